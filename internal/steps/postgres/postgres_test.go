package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// TestMain brings up the lab the non-destructive tests share
// (labtest.Shared); tests that promote or rejoin start their own (labtest.Fresh).
func TestMain(m *testing.M) { labtest.Main(m, "postgres") }

func conn(dsn string) *steps.Connection {
	return &steps.Connection{Name: "lab_db", Type: "postgres", Fields: map[string]string{"dsn": dsn}}
}

func build(t *testing.T, kind string, cfg steps.Config, c *steps.Connection) steps.Probe {
	t.Helper()
	return stepstest.Build(t, Register, kind, cfg, c)
}

func buildStep(t *testing.T, kind string, cfg steps.Config, c *steps.Connection) steps.Step {
	t.Helper()
	return stepstest.BuildStep(t, Register, kind, cfg, c)
}

func check(t *testing.T, s steps.Probe) steps.Result {
	t.Helper()
	return stepstest.Check(t, s)
}

// converge does what the executor does: Check, Apply if not done (probes
// are only polled), then poll Check until done or the deadline.
func converge(t *testing.T, s steps.Probe, deadline time.Duration) steps.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	res, err := s.Check(ctx)
	if err == nil && res.Done {
		return res
	}
	if st, ok := s.(steps.Step); ok {
		if err := st.Apply(ctx); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	last := ""
	for {
		res, err = s.Check(ctx)
		if err == nil && res.Done {
			return res
		}
		if msg := fmt.Sprint(res.Summary, err); msg != last && testing.Verbose() {
			t.Logf("not done yet: %s", msg)
			last = msg
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not done within %s: %+v, %v", deadline, res, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func sqlExec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// The lab runs with synchronous_commit off; a commit the test relies on
	// must be flushed (replicationLag measures against the flush position).
	if _, err := c.Exec(ctx, "SET synchronous_commit = on; "+sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func intp(n int) *int       { return &n }
func strp(s string) *string { return &s }

func TestReplicationLagOfTheStandby(t *testing.T) {
	env := labtest.Shared().Env()
	sqlExec(t, env["LAB_PG_PRIMARY_DSN"], "CREATE TABLE IF NOT EXISTS lag_probe(x int); INSERT INTO lag_probe VALUES (1)")
	res := converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{
		MaxLag: "5s", MaxBytes: 1, PrimaryDSN: env["LAB_PG_PRIMARY_DSN"], RequireStreaming: true,
	}, conn(env["LAB_PG_STANDBY_DSN"])), 20*time.Second)
	if res.Outputs["bytes"] != "0" || !strings.Contains(res.Summary, "receiver streaming") {
		t.Errorf("replicationLag = %+v, want caught up and streaming", res)
	}
	if _, err := time.ParseDuration(res.Outputs["lag"]); err != nil {
		t.Errorf("lag output %q is not a duration", res.Outputs["lag"])
	}
}

func TestReplicationLagOnAPrimaryIsPermanent(t *testing.T) {
	env := labtest.Shared().Env()
	_, err := build(t, "postgres.replicationLag", &ReplicationLagConfig{}, conn(env["LAB_PG_PRIMARY_DSN"])).Check(context.Background())
	if err == nil || !steps.IsPermanent(err) || !strings.Contains(err.Error(), "not a standby") {
		t.Errorf("replicationLag on the primary = %v, want a permanent 'not a standby' error", err)
	}
}

func TestQueryAssertions(t *testing.T) {
	env := labtest.Shared().Env()
	primary := conn(env["LAB_PG_PRIMARY_DSN"])
	sql := "SELECT n, 'row' || n AS label, NULL::int AS nothing FROM generate_series(1, 3) AS n"
	tests := []struct {
		name     string
		cfg      QueryConfig
		wantDone bool
		wantSum  string
	}{
		{"all assertions hold", QueryConfig{SQL: sql, ExpectRows: intp(3), MinRows: intp(1), Expect: []Expectation{
			{Column: "n", Equals: strp("1")}, {Row: 2, Column: "n", AtLeast: "3", AtMost: "3"}, {Row: 1, Column: "label", NotNull: true}}}, true, "3 rows, all assertions hold"},
		{"a wrong row count", QueryConfig{SQL: sql, ExpectRows: intp(2)}, false, "want 2 rows"},
		{"too few rows", QueryConfig{SQL: sql, MinRows: intp(5)}, false, "want at least 5 rows"},
		{"a value below the minimum", QueryConfig{SQL: sql, Expect: []Expectation{{Column: "n", AtLeast: "2"}}}, false, "row 0 column n = 1, want at least 2"},
		{"a value above the maximum", QueryConfig{SQL: sql, Expect: []Expectation{{Row: 2, Column: "n", AtMost: "2"}}}, false, "want at most 2"},
		{"a different text", QueryConfig{SQL: sql, Expect: []Expectation{{Column: "label", Equals: strp("x")}}}, false, `"row1", want "x"`},
		{"a NULL", QueryConfig{SQL: sql, Expect: []Expectation{{Column: "nothing", NotNull: true}}}, false, "is NULL"},
		{"a missing column", QueryConfig{SQL: sql, Expect: []Expectation{{Column: "nope", NotNull: true}}}, false, "no column nope"},
		{"a missing row", QueryConfig{SQL: sql, Expect: []Expectation{{Row: 9, Column: "n", NotNull: true}}}, false, "no such row"},
		{"the last statement with rows counts", QueryConfig{SQL: "CREATE TEMP TABLE t(x int); INSERT INTO t VALUES (7) RETURNING x",
			Expect: []Expectation{{Column: "x", Equals: strp("7")}}}, true, "1 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := check(t, build(t, "postgres.query", &tt.cfg, primary))
			if res.Done != tt.wantDone || !strings.Contains(res.Summary, tt.wantSum) {
				t.Errorf("Check = done %v %q, want done %v and %q", res.Done, res.Summary, tt.wantDone, tt.wantSum)
			}
		})
	}
}

func TestQueryWritesAreRolledBackUnlessCommit(t *testing.T) {
	env := labtest.Shared().Env()
	primary := conn(env["LAB_PG_PRIMARY_DSN"])
	write := "CREATE TABLE IF NOT EXISTS failover_probe(id serial, at timestamptz DEFAULT now()); INSERT INTO failover_probe DEFAULT VALUES RETURNING id"
	res := check(t, build(t, "postgres.query", &QueryConfig{SQL: write, ExpectRows: intp(1)}, primary))
	if !res.Done {
		t.Fatalf("writable check on the primary: %+v", res)
	}
	res = check(t, build(t, "postgres.query", &QueryConfig{SQL: "SELECT to_regclass('failover_probe') IS NULL AS gone",
		Expect: []Expectation{{Column: "gone", Equals: strp("t")}}}, primary))
	if !res.Done {
		t.Errorf("the rolled-back table exists: %s", res.Summary)
	}
	check(t, build(t, "postgres.query", &QueryConfig{SQL: write, Commit: true}, primary))
	res = check(t, build(t, "postgres.query", &QueryConfig{SQL: "SELECT count(*) FROM failover_probe",
		Expect: []Expectation{{Column: "count", AtLeast: "1"}}}, primary))
	if !res.Done {
		t.Errorf("the committed row is missing: %s", res.Summary)
	}
}

func TestQueryErrors(t *testing.T) {
	env := labtest.Shared().Env()
	// A write on the read-only standby: transient (it may be promoted).
	_, err := build(t, "postgres.query", &QueryConfig{SQL: "CREATE TABLE nope(x int)"}, conn(env["LAB_PG_STANDBY_DSN"])).Check(context.Background())
	if err == nil || steps.IsPermanent(err) || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("write on the standby = %v, want a transient read-only error", err)
	}
	_, err = build(t, "postgres.query", &QueryConfig{SQL: "SELEC 1"}, conn(env["LAB_PG_PRIMARY_DSN"])).Check(context.Background())
	if err == nil || !steps.IsPermanent(err) {
		t.Errorf("syntax error = %v, want permanent", err)
	}
	start := time.Now()
	_, err = build(t, "postgres.query", &QueryConfig{SQL: "SELECT pg_sleep(10)", QueryTimeout: "300ms"}, conn(env["LAB_PG_PRIMARY_DSN"])).Check(context.Background())
	if err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("a slow query = %v after %s, want an error within the 300ms query timeout", err, time.Since(start))
	}
}

func TestPromoteCheckObservesWithoutChanging(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "postgres.promote", &PromoteConfig{}, conn(env["LAB_PG_PRIMARY_DSN"])))
	if !res.Done || res.Outputs["timeline"] != "1" || res.Outputs["lagAtPromotion"] != "unknown" {
		t.Errorf("promote Check on the primary = %+v, want done on timeline 1", res)
	}
	res = check(t, build(t, "postgres.promote", &PromoteConfig{}, conn(env["LAB_PG_STANDBY_DSN"])))
	if res.Done || !strings.Contains(res.Summary, "is a standby") {
		t.Errorf("promote Check on the standby = %+v, want not done", res)
	}
	res = check(t, build(t, "postgres.promote", &PromoteConfig{}, conn(env["LAB_PG_STANDBY_DSN"])))
	if res.Done {
		t.Error("Check promoted the standby")
	}
}

// deadAddrs are a port nothing listens on and one that accepts and never
// answers.
func deadAddrs(t *testing.T) (refused, blackhole string) {
	t.Helper()
	return stepstest.RefusedAddr(t), stepstest.BlackholeAddr(t)
}

func TestPromoteWhenTheStandbyIsGone(t *testing.T) {
	refused, hole := deadAddrs(t)
	for name, addr := range map[string]string{"refused": refused, "blackholed": hole} {
		dsn := "postgres://postgres:topsecret-pw@" + addr + "/postgres?sslmode=disable"
		s := buildStep(t, "postgres.promote", &PromoteConfig{QueryTimeout: "500ms"}, conn(dsn))
		for op, f := range map[string]func() error{
			"Check": func() error { _, err := s.Check(context.Background()); return err },
			"Apply": func() error { return s.Apply(context.Background()) },
		} {
			start := time.Now()
			err := f()
			took := time.Since(start)
			if err == nil {
				t.Errorf("%s %s: no error with the standby gone", name, op)
				continue
			}
			if steps.IsPermanent(err) {
				t.Errorf("%s %s: %v is permanent; a vanished standby may come back", name, op, err)
			}
			if took > 500*time.Millisecond+2*time.Second {
				t.Errorf("%s %s took %s, want about the 500ms query timeout", name, op, took)
			}
			if strings.Contains(err.Error(), "topsecret-pw") {
				t.Errorf("%s %s leaks the password: %v", name, op, err)
			}
		}
	}
}

func TestSecretsNeverReachErrors(t *testing.T) {
	env := labtest.Shared().Env()
	dsn := strings.Replace(env["LAB_PG_PRIMARY_DSN"], env["LAB_PG_PASSWORD"], "wrong-pass-0123", 1)
	_, err := build(t, "postgres.query", &QueryConfig{SQL: "SELECT 1"}, conn(dsn)).Check(context.Background())
	if err == nil || !steps.IsPermanent(err) {
		t.Fatalf("a wrong password = %v, want a permanent error", err)
	}
	if strings.Contains(err.Error(), "wrong-pass-0123") {
		t.Errorf("error leaks the password: %v", err)
	}
	r := steps.NewRegistry()
	_ = Register(r)
	k, _ := r.Kind("postgres.query")
	_, err = k.Build(context.Background(), &QueryConfig{SQL: "SELECT 1", QueryTimeout: "1s"},
		steps.Env{Conn: conn("postgres://u:p4ss-in-bad-dsn@[::1/x")})
	if err == nil || strings.Contains(err.Error(), "p4ss-in-bad-dsn") || !steps.IsPermanent(err) {
		t.Errorf("a DSN that does not parse = %v, want a permanent error without the DSN", err)
	}
}

func TestQueryExpectDown(t *testing.T) {
	env := labtest.Shared().Env()
	refused, hole := deadAddrs(t)
	for name, tc := range map[string]struct {
		dsn  string
		done bool
	}{
		"a refused port is down":          {"postgres://postgres:x@" + refused + "/postgres?sslmode=disable", true},
		"a blackholed port is down":       {"postgres://postgres:x@" + hole + "/postgres?sslmode=disable", true},
		"a live server is not down":       {env["LAB_PG_PRIMARY_DSN"], false},
		"a server refusing a login is up": {strings.Replace(env["LAB_PG_PRIMARY_DSN"], env["LAB_PG_PASSWORD"], "nope", 1), false},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			res := check(t, build(t, "postgres.query", &QueryConfig{SQL: "SELECT 1", ExpectDown: true, QueryTimeout: "500ms"}, conn(tc.dsn)))
			if res.Done != tc.done {
				t.Errorf("Check = %+v, want done %v", res, tc.done)
			}
			if took := time.Since(start); took > 500*time.Millisecond+2*time.Second {
				t.Errorf("took %s, want about the 500ms query timeout", took)
			}
		})
	}
	if err := (&QueryConfig{SQL: "SELECT 1", ExpectDown: true, Commit: true}).CheckAndSetDefaults(); !hasField(err, "expectDown") {
		t.Errorf("expectDown with commit: %v, want an error on expectDown", err)
	}
}

func TestRejoinRefusesAWrongConfiguration(t *testing.T) {
	env := labtest.Shared().Env()
	cases := map[string]struct {
		cfg  RejoinAsStandbyConfig
		conn string
		want string
	}{
		"a new primary that is a standby": {RejoinAsStandbyConfig{DataDir: env["LAB_PG_PRIMARY_DATA"],
			PrimaryConnInfo: env["LAB_PG_STANDBY_DSN"]}, env["LAB_PG_PRIMARY_DIRECT_DSN"], "still in recovery"},
		"the same server twice": {RejoinAsStandbyConfig{DataDir: env["LAB_PG_PRIMARY_DATA"],
			PrimaryConnInfo: env["LAB_PG_PRIMARY_DIRECT_DSN"]}, env["LAB_PG_PRIMARY_DIRECT_DSN"], "same server"},
		"a data directory that is not the server's": {RejoinAsStandbyConfig{DataDir: "/tmp/not-the-data-dir",
			PrimaryConnInfo: env["LAB_PG_PRIMARY_DSN"]}, env["LAB_PG_STANDBY_DSN"], "refusing to stop or rewind"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			err := buildStep(t, "postgres.rejoinAsStandby", &cfg, conn(tc.conn)).Apply(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Nothing was stopped.
	if res := check(t, build(t, "postgres.promote", &PromoteConfig{}, conn(env["LAB_PG_PRIMARY_DSN"]))); !res.Done {
		t.Errorf("the primary after refused rejoins: %s", res.Summary)
	}
	res := converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{RequireStreaming: true}, conn(env["LAB_PG_STANDBY_DSN"])), 10*time.Second)
	t.Logf("standby after refused rejoins: %s", res.Summary)
}

// The kinds teach the run's redactor (steps.Env.Redactor) the password of
// their DSN, even one written in the runbook rather than a secret, so that
// the conninfo a standby reports (which carries it, key=value and quoted)
// is scrubbed wherever the run shows it.
func TestTheRunsRedactorLearnsTheDSNsPassword(t *testing.T) {
	env := labtest.Shared().Env()
	r := steps.NewRegistry()
	_ = Register(r)
	k, _ := r.Kind("postgres.query")
	red := &secret.Redactor{}
	cfg := &QueryConfig{SQL: "SELECT current_setting('primary_conninfo') AS c"}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	p, err := k.Build(context.Background(), cfg, steps.Env{Conn: conn(env["LAB_PG_STANDBY_DSN"]), Redactor: red})
	if err != nil {
		t.Fatal(err)
	}
	res := check(t, p)
	if !strings.Contains(res.Outputs["value"], "password=") {
		t.Fatalf("the standby's conninfo has no password: %q", res.Outputs["value"])
	}
	if got := red.Scrub(res.Outputs["value"]); strings.Contains(got, env["LAB_PG_PASSWORD"]) {
		t.Fatalf("the run's redactor does not know the password: %s", got)
	}
}
