package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
)

func defaultLabDir() string { return filepath.Join(os.TempDir(), "failover-lab") }

// cmdLab is `bot lab up|down|status|env|fail MODE|restore`. The lab runs in
// the foreground process of `bot lab up` (its proxies fail the primary
// region); the other verbs reach it through the state directory.
func cmdLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultLabDir(), "the lab's state directory")
	withAWS := fs.Bool("aws", false, "up: also serve a local AWS seeded with the MAIP and Mimir deployments (its endpoint and keys in 'bot lab env')")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: bot lab [-dir DIR] up [--kubernetes] [--aws] [--seeds]|down|status|env|fail MODE|restore
  up        start the lab and keep it running in the foreground (Ctrl-C stops it);
            --kubernetes adds a Kubernetes cluster to each region (contexts
            lab-primary and lab-dr in $KUBECONFIG; binaries from 'make kube-bin');
            --aws serves a local AWS (endpoint and credentials in 'bot lab env');
            --seeds readies both for the mimir-*/maip-* runbooks (overlays/lab-full.yaml)
  down      stop a lab started by 'bot lab up'
  status    probe every service of the lab
  env       print the lab's variables for the lab runbooks (eval "$(bot lab env)"):
            FAILOVER_RB_LAB_* for ${env:…}, FAILOVER_SECRET_LAB_* for ${secret:LAB_…},
            and KUBECONFIG with --kubernetes
  fail M    fail the primary region: stop, refuse or blackhole
  restore   reopen the primary region's network (restart what stop killed,
            but not PostgreSQL)`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	verb := fs.Arg(0)
	var opts lab.Options
	nargs := fs.NArg()
	if verb == "up" {
		ufs := flag.NewFlagSet("lab up", flag.ContinueOnError)
		ufs.SetOutput(stderr)
		ufs.BoolVar(&opts.Kubernetes, "kubernetes", false, "add a Kubernetes cluster to each region")
		ufs.BoolVar(withAWS, "aws", *withAWS, "serve a local AWS too")
		ufs.BoolVar(&opts.Seeds, "seeds", false, "ready the lab for the shipped seed runbooks (needs --kubernetes --aws): their workloads, the edge")
		ufs.Usage = fs.Usage
		if err := ufs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
		nargs = 1 + ufs.NArg()
	}
	if want := map[string]int{"up": 1, "down": 1, "status": 1, "env": 1, "restore": 1, "fail": 2}[verb]; want == 0 || nargs != want {
		if verb != "" && want == 0 {
			fmt.Fprintf(stderr, "bot lab: unknown command %q\n", verb)
		}
		fs.Usage()
		return 2
	}
	if *withAWS {
		opts.AWS = &lab.AWSOptions{}
	}
	var err error
	if verb == "up" {
		err = labUp(ctx, *dir, opts, stdout, stderr)
	} else {
		err = labControl(ctx, *dir, verb, fs.Arg(1), stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bot lab: %v\n", err)
		return 1
	}
	return 0
}

func labUp(ctx context.Context, dir string, opts lab.Options, stdout, stderr io.Writer) error {
	// PostgreSQL runs as its own OS user: it must be able to enter the lab.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Dir, opts.Logger = dir, log
	err := lab.Serve(ctx, dir, opts, func(l *lab.Lab, _ *lab.State) {
		fmt.Fprintf(stdout, "lab up in %s\n%s\nuse it from another shell: eval \"$(bot lab env)\"; 'bot lab down' or Ctrl-C stops it\n",
			l.StartupTime().Round(time.Millisecond), l.Status(ctx))
	})
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	fmt.Fprintln(stdout, "lab: stopped")
	return nil
}

func labControl(ctx context.Context, dir, verb, arg string, stdout io.Writer) error {
	r, err := lab.Connect(dir)
	if err != nil {
		return fmt.Errorf("no lab running with state in %s ('bot lab up' starts one): %w", dir, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch verb {
	case "status":
		st, err := r.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, st)
	case "env":
		fmt.Fprint(stdout, lab.ExportLines(lab.RunbookEnv(r.State.Env)))
	case "fail":
		mode := lab.FailMode(arg)
		switch mode {
		case lab.FailStop, lab.FailRefuse, lab.FailBlackhole:
		default:
			return fmt.Errorf("unknown failure mode %q: want stop, refuse or blackhole", arg)
		}
		if err := r.FailPrimary(ctx, mode); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "primary region failed: %s\n", mode)
	case "restore":
		if err := r.RestorePrimary(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "primary region network restored")
	case "down":
		if err := r.Down(ctx, dir); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "lab: down")
	}
	return nil
}
