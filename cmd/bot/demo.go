package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/app"
	"github.com/failoverbot/failoverbot/internal/config"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/runbooks"
)

//go:embed demo.txt
var demoScript string

// cmdDemo brings the lab up, fails its primary region, runs the lab
// failover through the console with two approvals, shows the timeline and
// checks that the DR region really took over. It tears the lab down.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("fail", string(lab.FailBlackhole), "how the primary region fails: stop, refuse or blackhole")
	keep := fs.Bool("keep", false, "leave the lab's directory (logs, data) in place")
	conns := fs.String("connections", "", "connections overlay applied to the lab runbooks (see runbooks/overlays)")
	full := fs.Bool("full", false, "the full lab instead: the shipped mimir-region-failover, whole (clusters, local AWS, PostgreSQL, Redis)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *full {
		if err := runFullDemo(ctx, *keep, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "\ndemo FAILED: %v\n", err)
			return 1
		}
		return 0
	}
	if err := runDemo(ctx, lab.FailMode(*mode), *keep, *conns, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "\ndemo FAILED: %v\n", err)
		return 1
	}
	return 0
}

func runDemo(ctx context.Context, mode lab.FailMode, keep bool, connections string, stdout, stderr io.Writer) (err error) {
	switch mode {
	case lab.FailStop, lab.FailRefuse, lab.FailBlackhole:
	default:
		return fmt.Errorf("-fail %q: want stop, refuse or blackhole", mode)
	}
	dir, err := os.MkdirTemp("", "failover-demo-")
	if err != nil {
		return err
	}
	// PostgreSQL runs as its own OS user: it must be able to reach its data.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "\n=== "+format+"\n", a...) }

	say("starting the lab (PostgreSQL primary + streaming standby, Redis master + replica + 3 Sentinels)")
	l, err := lab.Up(ctx, lab.Options{Dir: dir})
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, l.Down(dctx))
	}()
	fmt.Fprintf(stdout, "lab up in %s\n%s\n", l.StartupTime().Round(time.Millisecond), l.Status(ctx))

	say("failing the primary region: %s", mode)
	if err := l.FailPrimary(ctx, mode); err != nil {
		return fmt.Errorf("fail primary: %w", err)
	}

	rbDir := filepath.Join(dir, "runbooks")
	if err := writeLabRunbooks(rbDir); err != nil {
		return err
	}
	env := l.Env()
	rbEnv := lab.RunbookEnv(env)
	lookup := func(k string) (string, bool) {
		if v, ok := rbEnv[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance, cfg.LogLevel = rbDir, filepath.Join(dir, "bot.db"), "demo", "warn"
	cfg.Connections = connections

	// The run's report and chart outlive the lab's directory.
	reports, err := os.MkdirTemp("", "failover-demo-report-")
	if err != nil {
		return err
	}

	say("running the failover from the console")
	start := time.Now()
	script := strings.ReplaceAll(demoScript, "LAB_PAGERDUTY_INCIDENT", l.PagerDutyIncident())
	err = runConsole(ctx, consoleRun{cfg: cfg, in: strings.NewReader(script), out: stdout, stderr: stderr, uploads: reports,
		as: "oncall-1", script: true, opts: app.Options{Env: lookup, Executor: executor.Config{
			PollInterval: 100 * time.Millisecond, MaxPollInterval: time.Second, RetryBackoff: 200 * time.Millisecond}}})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	took := time.Since(start)

	say("what the status page and PagerDuty received (the stakeholders' messages are above, in #lab-status)")
	fmt.Fprint(stdout, l.SaaSReport())
	if err := verifyNotifications(l); err != nil {
		return err
	}

	say("checking that the DR region really took over")
	if err := verifyFailover(ctx, env, stdout); err != nil {
		return err
	}

	say("the run's report and timeline chart, as shared in the run's thread")
	md, png, err := reportFiles(reports)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\nchart:  %s\n", md, png)
	fmt.Fprintf(stdout, "\ndemo OK: assessment, plan, two approvals and the failover took %s\n", took.Round(time.Millisecond))
	return nil
}

// reportFiles finds the report and chart the run's end shared in dir.
func reportFiles(dir string) (md, png string, err error) {
	mds, _ := filepath.Glob(filepath.Join(dir, "*-report.md"))
	if len(mds) != 1 {
		return "", "", fmt.Errorf("want the run's report in %s, found %d", dir, len(mds))
	}
	md = mds[0]
	png = strings.TrimSuffix(md, "-report.md") + "-timeline.png"
	if st, err := os.Stat(png); err != nil || st.Size() == 0 {
		return "", "", fmt.Errorf("the run's timeline chart is missing: %v", err)
	}
	return md, png, nil
}

// writeLabRunbooks copies the embedded lab runbooks into dir.
func writeLabRunbooks(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names, err := fs.Glob(runbooks.FS, "lab-*.yaml")
	if err != nil || len(names) == 0 {
		return fmt.Errorf("no embedded lab runbooks (%v)", err)
	}
	for _, n := range names {
		b, err := runbooks.FS.ReadFile(n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// verifyNotifications checks that the status page incident was resolved
// with every component operational and that the PagerDuty incident got the
// run's notes and was resolved.
func verifyNotifications(l *lab.Lab) error {
	incs := l.Statuspage().Incidents(lab.StatuspagePage)
	if len(incs) != 1 || incs[0].Status != "resolved" {
		return fmt.Errorf("status page: want one resolved incident, got %+v", incs)
	}
	for _, id := range []string{lab.StatuspageComponentAPI, lab.StatuspageComponentDB} {
		if c, _ := l.Statuspage().Component(lab.StatuspagePage, id); c.Status != "operational" {
			return fmt.Errorf("status page: component %s is %s, want operational", id, c.Status)
		}
	}
	inc, ok := l.PagerDuty().Incident(l.PagerDutyIncident())
	if !ok || inc.Status != "resolved" || len(inc.Notes) == 0 {
		return fmt.Errorf("PagerDuty: want the incident resolved with the run's notes, got %+v", inc)
	}
	return nil
}

// verifyFailover checks, without the bot, that the standby is a writable
// primary and that Redis (and every Sentinel) has the DR node as master.
func verifyFailover(ctx context.Context, env map[string]string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, env["LAB_PG_STANDBY_DSN"])
	if err != nil {
		return fmt.Errorf("connect to the DR PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return fmt.Errorf("DR PostgreSQL: %w", err)
	}
	if inRecovery {
		return errors.New("DR PostgreSQL is still a standby (in recovery)")
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS demo_writes (at timestamptz); INSERT INTO demo_writes VALUES (now())"); err != nil {
		return fmt.Errorf("DR PostgreSQL is not writable: %w", err)
	}
	fmt.Fprintln(out, "PostgreSQL: the DR server is out of recovery and accepts writes")

	opt := &redis.Options{Addr: env["LAB_REDIS_DR_ADDR"], Password: env["LAB_REDIS_PASSWORD"],
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	role, err := rdb.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		return fmt.Errorf("DR Redis is not a master: ROLE = %v (%v)", role, err)
	}
	if err := rdb.Set(ctx, "demo:write", "ok", time.Minute).Err(); err != nil {
		return fmt.Errorf("DR Redis is not writable: %w", err)
	}
	want := env["LAB_REDIS_DR_ADDR"]
	for _, addr := range strings.Split(env["LAB_REDIS_SENTINELS"], ",") {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr, Password: env["LAB_REDIS_PASSWORD"],
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
		got, err := s.GetMasterAddrByName(ctx, env["LAB_REDIS_MASTER_NAME"]).Result()
		s.Close()
		if err != nil || len(got) != 2 || got[0]+":"+got[1] != want {
			return fmt.Errorf("sentinel %s names master %v, want %s (%v)", addr, got, want, err)
		}
	}
	fmt.Fprintln(out, "Redis: the DR node is master, accepts writes, and every Sentinel agrees")
	return nil
}
