package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// configFiles are the old primary's own files, kept across a rewind or a
// base backup (both copy the new primary's).
var configFiles = []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf", "postgresql.auto.conf"}

// Rejoin is a postgres.rejoinAsStandby step.
type Rejoin struct {
	cfg     RejoinAsStandbyConfig
	old     *server // the old primary (the step's connection)
	primary *server // the new primary
	cred    *syscall.Credential

	mu     sync.Mutex
	method string // what the last Apply did
}

var _ steps.Step = (*Rejoin)(nil)

func newRejoin(_ context.Context, c *RejoinAsStandbyConfig, env steps.Env) (steps.Step, error) {
	if !filepath.IsAbs(c.DataDir) {
		return nil, steps.Permanentf("postgres.rejoinAsStandby: dataDir must be an absolute path, got %q", c.DataDir)
	}
	old, err := fromEnv("postgres.rejoinAsStandby", env, steps.ParseDuration(c.QueryTimeout))
	if err != nil {
		return nil, err
	}
	primary, err := newServer("postgres.rejoinAsStandby", "primaryConnInfo", c.PrimaryConnInfo, old.timeout, old.red, env.Logger)
	if err != nil {
		return nil, err
	}
	r := &Rejoin{cfg: *c, old: old, primary: primary}
	if os.Geteuid() == 0 {
		if r.cred, err = credential(c.OSUser); err != nil {
			return nil, steps.Permanent(err)
		}
	}
	return r, nil
}

// Check: done when the old primary is in recovery and its WAL receiver
// streams from the new primary. A server that does not answer, or answers
// as a primary, is not done (Apply rejoins it).
func (r *Rejoin) Check(ctx context.Context) (steps.Result, error) {
	r.mu.Lock()
	method := r.method
	r.mu.Unlock()
	out := map[string]string{"method": method, "receiver": ""}
	var st standbyState
	err := r.old.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := r.old.call(ctx)
		defer cancel()
		var err error
		st, err = observeStandby(cctx, c, "")
		return err
	})
	if err != nil {
		err = r.old.wrap(err, "observe %s", r.old.name)
		if steps.IsPermanent(err) {
			return steps.Result{}, err
		}
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s does not answer: %v", r.old.name, err)}, nil
	}
	out["receiver"] = st.receiver
	want := r.primary.addr()
	switch {
	case !st.inRecovery:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is a primary, not a standby of %s", r.old.name, want)}, nil
	case st.receiver != "streaming":
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s is a standby, WAL receiver %s", r.old.name, orNone(st.receiver))}, nil
	case !sameHostPort(st.sender, want):
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%s streams from %s, not %s", r.old.name, st.sender, want)}, nil
	}
	return steps.Result{Done: true, Outputs: out,
		Summary: fmt.Sprintf("%s streams from %s (replay lag %s)", r.old.name, want, st.lag.Round(time.Millisecond))}, nil
}

// Apply stops the old primary, rewinds it (or takes a fresh base backup),
// restores its own configuration, makes it a standby of the new primary
// and starts it. Every stage is safe to repeat after a crash: the saved
// configuration is kept next to the data directory until the server runs.
func (r *Rejoin) Apply(ctx context.Context) error {
	if err := r.guard(ctx); err != nil {
		return err
	}
	if err := r.stop(ctx); err != nil {
		return err
	}
	saved, err := r.saveConfig()
	if err != nil {
		return steps.Permanent(err)
	}
	// pg_rewind reads the new primary's timeline from its control file,
	// which a recent promotion only updates at the next checkpoint.
	if err := r.primary.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := context.WithTimeout(ctx, 2*r.primary.timeout)
		defer cancel()
		_, err := c.Exec(cctx, "CHECKPOINT")
		return err
	}); err != nil {
		return r.primary.wrap(err, "checkpoint on the new primary")
	}
	method := r.cfg.Method
	switch method {
	case MethodRewind:
		err = r.rewind(ctx)
	case MethodBaseBackup:
		err = r.baseBackup(ctx)
	default:
		if err = r.rewind(ctx); err != nil {
			r.old.log.WarnContext(ctx, "pg_rewind failed; taking a fresh base backup", "error", err)
			method = MethodBaseBackup
			err = r.baseBackup(ctx)
		} else {
			method = MethodRewind
		}
	}
	if err != nil {
		return err
	}
	if err := r.writeStandbyConfig(saved); err != nil {
		return steps.Permanent(err)
	}
	if err := r.start(ctx); err != nil {
		return err
	}
	_ = os.RemoveAll(r.savedDir())
	r.mu.Lock()
	r.method = method
	r.mu.Unlock()
	return nil
}

// guard refuses to touch anything when the configuration is wrong: the new
// primary must be a primary, and a running old server must be the one whose
// data directory the step would rewind.
func (r *Rejoin) guard(ctx context.Context) error {
	if r.old.addr() == r.primary.addr() {
		return steps.Permanentf("postgres.rejoinAsStandby: the connection and primaryConnInfo name the same server %s", r.old.addr())
	}
	var inRecovery bool
	if err := r.primary.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := r.primary.call(ctx)
		defer cancel()
		return c.QueryRow(cctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	}); err != nil {
		return r.primary.wrap(err, "check the new primary")
	}
	if inRecovery {
		return fmt.Errorf("postgres.rejoinAsStandby: the new primary %s is still in recovery: promote it first", r.primary.addr())
	}
	var dataDir string
	err := r.old.with(ctx, func(ctx context.Context, c *pgx.Conn) error {
		cctx, cancel := r.old.call(ctx)
		defer cancel()
		return c.QueryRow(cctx, "SELECT current_setting('data_directory')").Scan(&dataDir)
	})
	if err != nil {
		return nil // not running (or not allowed to say): nothing to compare
	}
	if filepath.Clean(dataDir) != filepath.Clean(r.cfg.DataDir) {
		return steps.Permanentf("postgres.rejoinAsStandby: %s (%s) runs from %s, not dataDir %s: refusing to stop or rewind it",
			r.old.name, r.old.addr(), dataDir, r.cfg.DataDir)
	}
	return nil
}

func (r *Rejoin) savedDir() string { return filepath.Clean(r.cfg.DataDir) + ".rejoin-conf" }

// stop shuts the old primary down if its postmaster runs (fast, then
// immediate).
func (r *Rejoin) stop(ctx context.Context) error {
	if !postmasterAlive(r.cfg.DataDir) {
		return nil
	}
	if _, err := r.run(ctx, 60*time.Second, "pg_ctl", "stop", "-D", r.cfg.DataDir, "-m", "fast", "-w", "-t", "30"); err == nil {
		return nil
	}
	if _, err := r.run(ctx, 30*time.Second, "pg_ctl", "stop", "-D", r.cfg.DataDir, "-m", "immediate", "-w", "-t", "20"); err != nil {
		return fmt.Errorf("postgres.rejoinAsStandby: stop the old primary: %w", err)
	}
	return nil
}

// saveConfig copies the old primary's configuration files aside (once: a
// copy left by an interrupted Apply is the original and wins).
func (r *Rejoin) saveConfig() (map[string][]byte, error) {
	dir := r.savedDir()
	saved := map[string][]byte{}
	if _, err := os.Stat(dir); err == nil {
		for _, f := range configFiles {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				saved[f] = b
			}
		}
		return saved, nil
	}
	if err := os.MkdirAll(dir+".tmp", 0o700); err != nil {
		return nil, fmt.Errorf("postgres.rejoinAsStandby: save configuration: %w", err)
	}
	for _, f := range configFiles {
		b, err := os.ReadFile(filepath.Join(r.cfg.DataDir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("postgres.rejoinAsStandby: save %s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(dir+".tmp", f), b, 0o600); err != nil {
			return nil, fmt.Errorf("postgres.rejoinAsStandby: save %s: %w", f, err)
		}
		saved[f] = b
	}
	if err := os.Rename(dir+".tmp", dir); err != nil {
		return nil, fmt.Errorf("postgres.rejoinAsStandby: save configuration: %w", err)
	}
	return saved, nil
}

func (r *Rejoin) rewind(ctx context.Context) error {
	conninfo, password := splitPassword(r.cfg.PrimaryConnInfo)
	if _, err := r.runEnv(ctx, 10*time.Minute, []string{"PGPASSWORD=" + password},
		"pg_rewind", "--target-pgdata="+r.cfg.DataDir, "--source-server="+conninfo); err != nil {
		return fmt.Errorf("postgres.rejoinAsStandby: pg_rewind: %w", err)
	}
	return nil
}

func (r *Rejoin) baseBackup(ctx context.Context) error {
	old := fmt.Sprintf("%s.old-%d", filepath.Clean(r.cfg.DataDir), time.Now().Unix())
	if _, err := os.Stat(r.cfg.DataDir); err == nil {
		if err := os.Rename(r.cfg.DataDir, old); err != nil {
			return steps.Permanentf("postgres.rejoinAsStandby: move the old data directory aside: %v", err)
		}
	}
	conninfo, password := splitPassword(r.cfg.PrimaryConnInfo)
	if _, err := r.runEnv(ctx, 30*time.Minute, []string{"PGPASSWORD=" + password},
		"pg_basebackup", "-D", r.cfg.DataDir, "-d", conninfo, "-X", "stream", "-c", "fast"); err != nil {
		_ = os.RemoveAll(r.cfg.DataDir)
		_ = os.Rename(old, r.cfg.DataDir)
		return fmt.Errorf("postgres.rejoinAsStandby: pg_basebackup: %w", err)
	}
	_ = os.RemoveAll(old)
	return nil
}

// writeStandbyConfig restores the old primary's files, points
// primary_conninfo at the new primary and adds standby.signal.
func (r *Rejoin) writeStandbyConfig(saved map[string][]byte) error {
	for f, b := range saved {
		if f == "postgresql.auto.conf" {
			continue
		}
		if err := r.writeOwned(filepath.Join(r.cfg.DataDir, f), b); err != nil {
			return err
		}
	}
	var lines []string
	for _, l := range strings.Split(string(saved["postgresql.auto.conf"]), "\n") {
		key := strings.TrimSpace(strings.SplitN(l, "=", 2)[0])
		if key == "primary_conninfo" || key == "primary_slot_name" || strings.TrimSpace(l) == "" {
			continue
		}
		lines = append(lines, l)
	}
	lines = append(lines, "primary_conninfo = '"+strings.ReplaceAll(toKeywordValue(r.cfg.PrimaryConnInfo), "'", "''")+"'")
	if err := r.writeOwned(filepath.Join(r.cfg.DataDir, "postgresql.auto.conf"), []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(r.cfg.DataDir, "recovery.signal"))
	return r.writeOwned(filepath.Join(r.cfg.DataDir, "standby.signal"), nil)
}

func (r *Rejoin) start(ctx context.Context) error {
	args := []string{"start", "-D", r.cfg.DataDir, "-l", r.cfg.LogFile, "-w", "-t", "60"}
	if r.cfg.StartOptions != "" {
		args = append(args, "-o", r.cfg.StartOptions)
	}
	if _, err := r.run(ctx, 90*time.Second, "pg_ctl", args...); err != nil {
		return fmt.Errorf("postgres.rejoinAsStandby: start the standby: %w", err)
	}
	return nil
}

func (r *Rejoin) run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	return r.runEnv(ctx, timeout, nil, name, args...)
}

// runEnv runs a PostgreSQL program as the OS user, bounded by timeout,
// and returns its output with secrets scrubbed.
func (r *Rejoin) runEnv(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(r.cfg.BinDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = os.TempDir()
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
		cmd.Env = append(cmd.Env, "HOME=/tmp", "USER="+r.cfg.OSUser)
	}
	cmd.WaitDelay = 5 * time.Second // pg_ctl start leaves a daemon holding no pipe, but be safe
	out, err := cmd.CombinedOutput()
	text := r.old.red.Scrub(strings.TrimSpace(string(out)))
	if err != nil {
		return text, fmt.Errorf("%s: %w: %s", name, err, lastLines(text, 8))
	}
	r.old.log.InfoContext(ctx, "ran "+name, "output", lastLines(text, 3))
	return text, nil
}

func (r *Rejoin) writeOwned(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("postgres.rejoinAsStandby: write %s: %w", path, err)
	}
	if r.cred != nil {
		if err := os.Chown(path, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			return fmt.Errorf("postgres.rejoinAsStandby: chown %s: %w", path, err)
		}
	}
	return nil
}

// Helpers of postgres.rejoinAsStandby: the OS user, the postmaster, and
// conninfo strings.

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("postgres.rejoinAsStandby: OS user %s: %w", name, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// postmasterAlive reports whether dataDir's postmaster.pid names a live
// process.
func postmasterAlive(dataDir string) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	return err == nil && pid > 0 && syscall.Kill(pid, 0) == nil
}

// splitPassword takes the password out of a URL conninfo (it goes to the
// program through PGPASSWORD, not its command line). Keyword/value
// conninfo is returned as is.
func splitPassword(conninfo string) (string, string) {
	u, err := url.Parse(conninfo)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return conninfo, ""
	}
	pw, _ := u.User.Password()
	u.User = url.User(u.User.Username())
	return u.String(), pw
}

// toKeywordValue renders a URL conninfo as keyword=value (what
// primary_conninfo expects); keyword/value input is returned as is.
func toKeywordValue(conninfo string) string {
	u, err := url.Parse(conninfo)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return conninfo
	}
	quote := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	var kv []string
	if h := u.Hostname(); h != "" {
		kv = append(kv, "host="+quote(h))
	}
	if p := u.Port(); p != "" {
		kv = append(kv, "port="+p)
	}
	if u.User != nil {
		kv = append(kv, "user="+quote(u.User.Username()))
		if pw, ok := u.User.Password(); ok {
			kv = append(kv, "password="+quote(pw))
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		kv = append(kv, "dbname="+quote(db))
	}
	for k, vs := range u.Query() {
		for _, v := range vs {
			kv = append(kv, k+"="+quote(v))
		}
	}
	return strings.Join(kv, " ")
}

func sameHostPort(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	norm := func(h string) string {
		if h == "localhost" || h == "::1" {
			return "127.0.0.1"
		}
		return h
	}
	return norm(ah) == norm(bh) && ap == bp
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
