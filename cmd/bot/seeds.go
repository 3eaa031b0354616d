package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/steps/aws"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
	"github.com/failoverbot/failoverbot/runbooks"
)

// The full lab (`bot demo --full`, the seed tests): both clusters, the
// local AWS and the seeds' workloads, with the shipped seed runbooks and
// the shipped overlay runbooks/overlays/lab-full.yaml.

// mimirFailoverScript runs mimir-region-failover from the console: the
// start and its two approvals, the two gates (dashboards, monitoring).
// (sentinels_monitor's redis-0.redis-service:6379 is the lab's DR Redis
// for the lab's Sentinels: lab/seeds_redis.go.)
const mimirFailoverScript = `/failover assess mimir-region-failover
/failover start mimir-region-failover primary region down (full lab)
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/approve last --as oncall-2
/wait last
/approve last --as oncall-2
/wait last
/failover status last
`

// seedGroups are the approvers of the seeds (mimir-oncall, maip-oncall)
// and the console's responders, in the full lab.
var seedGroups = map[string][]string{
	"oncall":       {"oncall-1", "oncall-2", "oncall-3", "oncall-4"},
	"mimir-oncall": {"oncall-1", "oncall-2", "oncall-3", "oncall-4"},
	"maip-oncall":  {"oncall-1", "oncall-2", "oncall-3", "oncall-4"},
}

// upFullLab starts the full lab in dir with its AWS's delays (and the AWS
// kinds' waits) multiplied by scale.
func upFullLab(ctx context.Context, dir string, scale float64) (*lab.Lab, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return lab.Up(ctx, lab.Options{Dir: dir, Kubernetes: true, AWS: &lab.AWSOptions{TimeScale: scale}, Seeds: true})
}

// seedConsole is a console run of script against the full lab: the
// runbooks of rbDir (the shipped ones), the overlay file, the lab's
// variables as the runbooks' ${env:…} and ${secret:…}, the AWS kinds'
// waits scaled as the lab's AWS, http.check through the lab's edge. The
// store is in dir.
func seedConsole(l *lab.Lab, dir, rbDir, overlay string, scale float64, script io.Reader, out, stderr io.Writer) consoleRun {
	rbEnv := lab.RunbookEnv(l.Env())
	lookup := func(k string) (string, bool) {
		if v, ok := rbEnv[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance, cfg.LogLevel = rbDir, filepath.Join(dir, "bot.db"), "full-lab", "warn"
	cfg.Connections = overlay
	cfg.Groups = seedGroups
	proxy, roots := l.EdgeProxy()
	return consoleRun{cfg: cfg, in: script, out: out, stderr: stderr, uploads: filepath.Join(dir, "reports"), as: "oncall-1", script: true,
		opts: app.Options{Env: lookup,
			Executor: executor.Config{PollInterval: 100 * time.Millisecond, MaxPollInterval: time.Second, RetryBackoff: 200 * time.Millisecond, MaxRetryBackoff: 2 * time.Second},
			Kinds:    builtin.Options{AWS: aws.Options{TimeScale: scale}, HTTP: httpcheck.Options{Proxy: proxy, RootCAs: roots}}}}
}

// runFullDemo is `bot demo --full`: the full lab, its primary region
// stopped, the shipped mimir-region-failover run whole from the console,
// then the DR PostgreSQL checked without the bot.
func runFullDemo(ctx context.Context, keep bool, stdout, stderr io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "failover-demo-full-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as its own user
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "\n=== "+format+"\n", a...) }
	say("starting the full lab (two Kubernetes clusters, the local AWS, PostgreSQL, Redis, the seeds' workloads)")
	l, err := upFullLab(ctx, dir, lab.DefaultAWSTimeScale)
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, l.Down(dctx))
	}()
	fmt.Fprintf(stdout, "lab up in %s\n", l.StartupTime().Round(time.Millisecond))
	say("failing the primary region: stop (API server, data stores, us-east-1)")
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		return err
	}
	rbDir, overlay, err := writeSeedRunbooks(dir)
	if err != nil {
		return err
	}
	say("running mimir-region-failover from the console")
	start := time.Now()
	run := seedConsole(l, dir, rbDir, overlay, lab.DefaultAWSTimeScale, strings.NewReader(mimirFailoverScript), stdout, stderr)
	if err := runConsole(ctx, run); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if err := verifySucceeded(ctx, run.cfg.StorePath, "mimir-region-failover"); err != nil {
		return err
	}
	say("checking that the DR PostgreSQL really took over")
	if err := verifyPromoted(ctx, l.Env()["LAB_PG_STANDBY_DSN"]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndemo OK: the Mimir failover took %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// verifySucceeded checks, in the store at path, that the newest run of
// runbook succeeded: a demo whose run paused or failed is not OK.
func verifySucceeded(ctx context.Context, path, runbook string) error {
	st, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return fmt.Errorf("open the demo's store: %w", err)
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, store.ListOptions{Runbook: runbook, Limit: 1})
	if err != nil {
		return fmt.Errorf("read the demo's runs: %w", err)
	}
	if len(runs) == 0 {
		return fmt.Errorf("no %s run in the demo's store", runbook)
	}
	if r := runs[0]; r.State != store.RunSucceeded {
		return fmt.Errorf("run %s ended %s, not succeeded", r.ID, r.State)
	}
	return nil
}

// verifyPromoted checks that the server at dsn is out of recovery.
func verifyPromoted(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to the DR PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return err
	}
	if inRecovery {
		return errors.New("the DR PostgreSQL is still a standby")
	}
	return nil
}

// writeSeedRunbooks copies the embedded seed runbooks and the full lab's
// overlay into dir; it returns the runbook directory and the overlay file.
func writeSeedRunbooks(dir string) (rbDir, overlay string, err error) {
	rbDir = filepath.Join(dir, "runbooks")
	if err := os.MkdirAll(filepath.Join(rbDir, "overlays"), 0o755); err != nil {
		return "", "", err
	}
	for _, n := range []string{"mimir-region-failover.yaml", "mimir-failback.yaml", "maip-region-failover.yaml", "maip-failback.yaml", "overlays/lab-full.yaml"} {
		b, err := runbooks.FS.ReadFile(n)
		if err != nil {
			return "", "", fmt.Errorf("embedded runbook %s: %w", n, err)
		}
		if err := os.WriteFile(filepath.Join(rbDir, n), b, 0o644); err != nil {
			return "", "", err
		}
	}
	return rbDir, filepath.Join(rbDir, "overlays", "lab-full.yaml"), nil
}
