package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
)

// The lab runs in the foreground process of `bot lab up`; the other lab
// commands talk to it over a unix socket in its state directory.
const labSocket = "control.sock"

func defaultLabDir() string { return filepath.Join(os.TempDir(), "failover-lab") }

// cmdLab is `bot lab up|down|status|env|fail MODE|restore`.
func cmdLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultLabDir(), "the lab's state directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: bot lab [-dir DIR] up|down|status|env|fail MODE|restore
  up        start the lab and keep it running in the foreground (Ctrl-C stops it)
  down      stop a lab started by 'bot lab up'
  status    probe every service of the lab
  env       print the LAB_* variables (eval "$(bot lab env)") for the lab runbooks
  fail M    fail the primary region: stop, refuse or blackhole
  restore   reopen the primary region's network`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var err error
	switch verb := fs.Arg(0); verb {
	case "up":
		err = labUp(ctx, *dir, stdout, stderr)
	case "down", "status", "env", "restore":
		err = labCall(ctx, *dir, "/"+verb, stdout)
	case "fail":
		if fs.NArg() != 2 {
			fs.Usage()
			return 2
		}
		err = labCall(ctx, *dir, "/fail?mode="+fs.Arg(1), stdout)
	default:
		fmt.Fprintf(stderr, "bot lab: unknown command %q\n", verb)
		fs.Usage()
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot lab: %v\n", err)
		return 1
	}
	return 0
}

func labUp(ctx context.Context, dir string, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sock := filepath.Join(dir, labSocket)
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("a lab is already running with state in %s ('bot lab down' stops it)", dir)
	}
	_ = os.Remove(sock)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Logger: log})
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return errors.Join(fmt.Errorf("control socket: %w", err), l.Down(context.Background()))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	srv := &http.Server{Handler: labControl(l, stop), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "lab up in %s\n%s\nuse it from another shell: eval \"$(bot lab env)\"; 'bot lab down' or Ctrl-C stops it\n",
		l.StartupTime().Round(time.Millisecond), l.Status(ctx))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	fmt.Fprintln(stdout, "lab: stopping")
	return l.Down(sctx)
}

// labControl serves the lab's control socket.
func labControl(l *lab.Lab, stop func()) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, l.Status(r.Context()))
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		env := l.Env()
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := json.Marshal(env[k])
			fmt.Fprintf(w, "export %s=%s\n", k, b)
		}
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		mode := lab.FailMode(r.URL.Query().Get("mode"))
		switch mode {
		case lab.FailStop, lab.FailRefuse, lab.FailBlackhole:
		default:
			http.Error(w, fmt.Sprintf("unknown failure mode %q: want stop, refuse or blackhole", mode), http.StatusBadRequest)
			return
		}
		if err := l.FailPrimary(r.Context(), mode); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "primary region failed: %s\n", mode)
	})
	mux.HandleFunc("/restore", func(w http.ResponseWriter, r *http.Request) {
		if err := l.RestorePrimary(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "primary region network restored")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "lab: stopping")
		stop()
	})
	return mux
}

// labCall sends one request to the running lab and prints the answer.
func labCall(ctx context.Context, dir, path string, stdout io.Writer) error {
	sock := filepath.Join(dir, labSocket)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://lab"+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("no lab running with state in %s ('bot lab up' starts one): %w", dir, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", body)
	}
	_, err = stdout.Write(body)
	return err
}
