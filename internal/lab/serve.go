package lab

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// `bot lab up` runs the lab in the foreground (the proxies that fail the
// primary region live in its process) until it is interrupted or asked to
// stop. It records the lab in a state directory so that other processes
// (`bot lab status|fail|restore|down`, `bot console`, `make demo`) find it:
//
//	<stateDir>/lab.json  State: pid, lab dir, control URL and token, LAB_* env (0600)
//	<stateDir>/lab.env   RunbookEnv as `export K='v'` lines, for a shell (0600)
//
// The control endpoint listens on loopback and requires the token.

// State is what a running lab records in its state directory.
type State struct {
	PID     int       `json:"pid"`
	Dir     string    `json:"dir"`
	Control string    `json:"control"`
	Token   string    `json:"token"`
	Started time.Time `json:"started"`
	// StartupMillis is how long lab.Up took.
	StartupMillis int64 `json:"startupMillis"`
	// Env holds the LAB_* variables (passwords included: the file is 0600).
	Env map[string]string `json:"env"`
}

// ErrNoLab means the state directory records no running lab.
var ErrNoLab = errors.New("no lab is running (start one with `bot lab up`)")

const (
	stateFile = "lab.json"
	envFile   = "lab.env"
)

// Serve starts a lab, records it in stateDir, calls ready (if not nil) and
// serves control requests until ctx is done or a client asks it down; then
// it stops the lab and removes the state files. It refuses to start when
// stateDir records a lab whose process is alive.
func Serve(ctx context.Context, stateDir string, opts Options, ready func(*Lab, *State)) error {
	if st, err := ReadState(stateDir); err == nil {
		return fmt.Errorf("lab: a lab is already running (pid %d, %s); stop it with `bot lab down`", st.PID, st.Dir)
	} else if !errors.Is(err, ErrNoLab) {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("lab: state directory: %w", err)
	}
	l, err := Up(ctx, opts)
	if err != nil {
		return err
	}
	defer l.Down(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("lab: control endpoint: %w", err)
	}
	tok := make([]byte, 16)
	_, _ = rand.Read(tok)
	st := &State{PID: os.Getpid(), Dir: l.Dir(), Control: "http://" + ln.Addr().String(), Token: hex.EncodeToString(tok),
		Started: time.Now().UTC(), StartupMillis: l.StartupTime().Milliseconds(), Env: l.Env()}
	if err := writeState(stateDir, st); err != nil {
		ln.Close()
		return err
	}
	defer removeState(stateDir)

	stop := make(chan struct{}, 1)
	srv := &http.Server{Handler: l.controlHandler(st.Token, stop), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if ready != nil {
		ready(l, st)
	}
	select {
	case <-ctx.Done():
	case <-stop:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	err = l.Down(context.Background())
	removeState(stateDir) // last: `bot lab down` returns once the lab is really down
	return err
}

func (l *Lab) controlHandler(token string, stop chan<- struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, l.Status(r.Context()))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, r *http.Request) {
		if err := l.FailPrimary(r.Context(), FailMode(r.URL.Query().Get("mode"))); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"failed": r.URL.Query().Get("mode")})
	})
	mux.HandleFunc("POST /restore", func(w http.ResponseWriter, r *http.Request) {
		if err := l.RestorePrimary(r.Context()); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"restored": "primary"})
	})
	mux.HandleFunc("POST /down", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusAccepted, map[string]string{"stopping": l.Dir()})
		select {
		case stop <- struct{}{}:
		default:
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad or missing token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, stateFile), b); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, envFile), []byte(ExportLines(RunbookEnv(st.Env))))
}

// ExportLines renders env as shell `export NAME='value'` lines, sorted, for
// `eval "$(bot lab env)"`.
func ExportLines(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "export %s='%s'\n", k, strings.ReplaceAll(env[k], "'", `'\''`))
	}
	return sb.String()
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	return nil
}

func removeState(dir string) {
	_ = os.Remove(filepath.Join(dir, stateFile))
	_ = os.Remove(filepath.Join(dir, envFile))
}

// ReadState reads the state of the lab recorded in stateDir. It returns
// ErrNoLab when there is none, or when its process is gone (a stale file,
// which it removes).
func ReadState(stateDir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoLab
	}
	if err != nil {
		return nil, fmt.Errorf("lab: read state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab: state file %s: %w", filepath.Join(stateDir, stateFile), err)
	}
	if st.PID <= 0 || syscall.Kill(st.PID, 0) != nil {
		removeState(stateDir)
		return nil, ErrNoLab
	}
	return &st, nil
}

// Remote controls a lab served by another process.
type Remote struct {
	State  *State
	client *http.Client
}

// Connect finds the lab recorded in stateDir.
func Connect(stateDir string) (*Remote, error) {
	st, err := ReadState(stateDir)
	if err != nil {
		return nil, err
	}
	return &Remote{State: st, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

func (r *Remote) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, r.State.Control+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.State.Token)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("lab control %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("lab control %s %s: %s: %s", method, path, resp.Status, e.Error)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Status asks the lab for its status.
func (r *Remote) Status(ctx context.Context) (Status, error) {
	var st Status
	err := r.do(ctx, http.MethodGet, "/status", &st)
	return st, err
}

// FailPrimary fails the lab's primary region.
func (r *Remote) FailPrimary(ctx context.Context, mode FailMode) error {
	return r.do(ctx, http.MethodPost, "/fail?mode="+string(mode), nil)
}

// RestorePrimary brings the lab's primary region back (see Lab.RestorePrimary).
func (r *Remote) RestorePrimary(ctx context.Context) error {
	return r.do(ctx, http.MethodPost, "/restore", nil)
}

// Down asks the lab to stop and waits until it is down: its state file
// removed or its process gone (or ctx ends).
func (r *Remote) Down(ctx context.Context, stateDir string) error {
	if err := r.do(ctx, http.MethodPost, "/down", nil); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(filepath.Join(stateDir, stateFile)); errors.Is(err, os.ErrNotExist) || syscall.Kill(r.State.PID, 0) != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: pid %d still running: %w", r.State.PID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
