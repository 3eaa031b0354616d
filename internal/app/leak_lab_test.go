package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat/console"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/store"
)

// leakRunbook reads the lab standby's primary_conninfo, which carries the
// replication password (pg_basebackup -R wrote it), through a connection
// whose whole DSN is one secret: the password appears in a form the
// secret's value does not (key=value, quoted), in the check's summary, its
// output, the plan, the run's failure and the audit trail.
const leakRunbook = `name: leak
connections:
  dr_pg: {type: postgres, dsn: "${secret:LAB_PG_STANDBY_DSN}"}
assess:
  - id: conninfo
    kind: postgres.query
    connection: dr_pg
    timeout: 5s
    with: {sql: "SELECT current_setting('primary_conninfo') AS c", expect: [{column: c, equals: "nope"}]}
phases:
  - id: p
    steps:
      - id: show
        kind: postgres.query
        connection: dr_pg
        timeout: 2s
        with: {sql: "SELECT current_setting('primary_conninfo') AS c", expect: [{column: c, equals: "nope"}]}
`

const leakScript = `/failover assess leak
/failover plan leak
/failover start leak conninfo please
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/failover status last
/failover report last
/failover history
`

// TestADSNPasswordNeverLeaks runs that runbook against the real lab from
// the console: the password is in none of what the bot shows (console
// output, i.e. every message, card and reply), logs (at debug level) or
// stores (the run, its steps, the audit trail).
func TestADSNPasswordNeverLeaks(t *testing.T) {
	l := labtest.Fresh(t)
	env := runbookEnv(l)
	pw := l.Env()["LAB_PG_PASSWORD"]
	if len(pw) < 8 {
		t.Fatalf("the lab's password %q is too short to look for", pw)
	}
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rbDir, "leak.yaml"), []byte(leakRunbook), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance, cfg.LogLevel = rbDir, filepath.Join(dir, "bot.db"), "leak-test", "debug"
	red := &secret.Redactor{}
	var logs, out bytes.Buffer
	log := NewLogger(cfg, &logs, red)
	poster := console.NewPoster(&out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := New(ctx, Options{Config: cfg, Poster: poster, Directory: &console.StaticDirectory{Groups: cfg.Groups},
		Logger: log, Redactor: red, Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Executor: executor.Config{PollInterval: 50 * time.Millisecond, MaxPollInterval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_ = console.Run(ctx, console.Options{In: strings.NewReader(leakScript), Out: &out, As: "oncall-1", Handler: a.Handler,
		Poster: poster, Runs: a.Handler, Settle: a.Cards.Flush})
	stored := storedText(ctx, t, a.Store)
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := a.Close(cctx); err != nil {
		t.Errorf("close: %v", err)
	}
	for what, text := range map[string]string{"console output": out.String(), "logs": logs.String(), "store": stored} {
		if strings.Contains(text, pw) {
			i := strings.Index(text, pw)
			t.Errorf("the DSN's password is in the %s: …%s…", what, text[max(0, i-80):min(len(text), i+len(pw)+20)])
		}
	}
	// The runbook really read the conninfo: the assertion names it.
	if !strings.Contains(out.String(), "row 0 column c = ") || !strings.Contains(out.String(), secret.Redacted) {
		t.Errorf("the check did not show a (redacted) conninfo; output:\n%s", out.String())
	}
}

// storedText is everything the store holds about every run.
func storedText(ctx context.Context, t *testing.T, st store.Store) string {
	t.Helper()
	runs, err := st.ListRuns(ctx, store.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range runs {
		steps, err := st.Steps(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		audit, err := st.Audit(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []any{r, steps, audit} {
			j, _ := json.Marshal(v)
			b.Write(j)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
