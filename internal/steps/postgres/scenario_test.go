package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
)

// The lab failover and failback, PostgreSQL side: with the primary region
// blackholed, checks answer within their deadlines; the standby is promoted
// (once: a second promote is a no-op) and is writable; then the old primary
// rejoins as its standby with pg_rewind and catches up; then the roles are
// switched back.
func TestFailoverAndFailback(t *testing.T) {
	l := labtest.Fresh(t)
	env := l.Env()
	primaryDSN, directDSN, standbyDSN := env["LAB_PG_PRIMARY_DSN"], env["LAB_PG_PRIMARY_DIRECT_DSN"], env["LAB_PG_STANDBY_DSN"]
	ctx := context.Background()

	// synchronous_commit=on: the commit is flushed before the lag check
	// compares the standby with the primary's flushed WAL position.
	sqlExec(t, primaryDSN, "SET synchronous_commit = on; CREATE TABLE orders(id int PRIMARY KEY, region text); INSERT INTO orders VALUES (1, 'primary')")
	converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{MaxLag: "5s", MaxBytes: 1, PrimaryDSN: primaryDSN}, conn(standbyDSN)), 20*time.Second)

	if err := l.FailPrimary(ctx, lab.FailBlackhole); err != nil {
		t.Fatal(err)
	}
	t.Run("checks against the blackholed primary answer within their deadline", func(t *testing.T) {
		for name, f := range map[string]func() error{
			"postgres.query on the primary": func() error {
				_, err := build(t, "postgres.query", &QueryConfig{SQL: "SELECT 1", QueryTimeout: "1s"}, conn(primaryDSN)).Check(ctx)
				return err
			},
			"postgres.replicationLag against the primary": func() error {
				_, err := build(t, "postgres.replicationLag", &ReplicationLagConfig{PrimaryDSN: primaryDSN, QueryTimeout: "1s"}, conn(standbyDSN)).Check(ctx)
				return err
			},
		} {
			start := time.Now()
			err := f()
			took := time.Since(start)
			if err == nil {
				t.Errorf("%s: no error against a blackholed primary", name)
			}
			if took > time.Second+2*time.Second {
				t.Errorf("%s took %s, want about the 1s query timeout", name, took)
			}
			t.Logf("%s: %s: %v", name, took.Round(time.Millisecond), err)
		}
		// Without the primary, the standby's own lag still answers.
		res := check(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{MaxLag: "1m"}, conn(standbyDSN)))
		if !res.Done {
			t.Errorf("standby lag without the primary: %+v", res)
		}
	})

	promote := buildStep(t, "postgres.promote", &PromoteConfig{}, conn(standbyDSN))
	res := converge(t, promote, 60*time.Second)
	if res.Outputs["timeline"] != "2" || res.Outputs["lagAtPromotion"] == "unknown" || res.Outputs["lsn"] == "" {
		t.Errorf("after promote: %+v, want timeline 2 and the lag at promotion", res)
	}
	t.Logf("promoted: %s", res.Summary)
	if err := promote.Apply(ctx); err != nil {
		t.Errorf("a second Apply on a promoted server = %v, want a no-op", err)
	}
	if res := check(t, promote); !res.Done || res.Outputs["timeline"] != "2" {
		t.Errorf("promoted twice? %+v", res)
	}
	res = check(t, build(t, "postgres.query", &QueryConfig{
		SQL:    "INSERT INTO orders VALUES (2, 'dr') RETURNING id",
		Commit: true, Expect: []Expectation{{Column: "id", Equals: strp("2")}}}, conn(standbyDSN)))
	if !res.Done {
		t.Fatalf("the promoted standby is not writable: %s", res.Summary)
	}

	// Failback: the region comes back; the old primary (still running as a
	// primary behind the blackhole) rejoins as a standby of the DR.
	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	rejoin := build(t, "postgres.rejoinAsStandby", &RejoinAsStandbyConfig{
		DataDir: env["LAB_PG_PRIMARY_DATA"], PrimaryConnInfo: standbyDSN, BinDir: env["LAB_PG_BIN"],
		StartOptions: env["LAB_PG_PRIMARY_START_OPTIONS"]}, conn(directDSN))
	if res := check(t, rejoin); res.Done || !strings.Contains(res.Summary, "is a primary") {
		t.Errorf("before rejoin: %+v, want the old primary seen as a primary", res)
	}
	start := time.Now()
	res = converge(t, rejoin, 2*time.Minute)
	t.Logf("rejoined in %s: %s (method %s)", time.Since(start).Round(time.Millisecond), res.Summary, res.Outputs["method"])
	if res.Outputs["method"] != "rewind" {
		t.Errorf("rejoin method = %q, want rewind", res.Outputs["method"])
	}
	converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{
		MaxLag: "5s", MaxBytes: 1, PrimaryDSN: standbyDSN, RequireStreaming: true}, conn(directDSN)), 30*time.Second)
	res = check(t, build(t, "postgres.query", &QueryConfig{SQL: "SELECT count(*) FROM orders",
		Expect: []Expectation{{Column: "count", Equals: strp("2")}}}, conn(directDSN)))
	if !res.Done {
		t.Errorf("the rejoined standby misses the DR's writes: %s", res.Summary)
	}

	// Switch back: promote the old primary, rejoin the DR as its standby.
	converge(t, build(t, "postgres.promote", &PromoteConfig{}, conn(primaryDSN)), 60*time.Second)
	converge(t, build(t, "postgres.rejoinAsStandby", &RejoinAsStandbyConfig{
		DataDir: env["LAB_PG_STANDBY_DATA"], PrimaryConnInfo: primaryDSN, BinDir: env["LAB_PG_BIN"],
		StartOptions: env["LAB_PG_STANDBY_START_OPTIONS"]}, conn(standbyDSN)), 2*time.Minute)
	sqlExec(t, primaryDSN, "INSERT INTO orders VALUES (3, 'primary again')")
	converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{
		MaxLag: "5s", MaxBytes: 1, PrimaryDSN: primaryDSN, RequireStreaming: true}, conn(standbyDSN)), 30*time.Second)
	res = check(t, build(t, "postgres.query", &QueryConfig{SQL: "SELECT count(*) FROM orders",
		Expect: []Expectation{{Column: "count", Equals: strp("3")}}}, conn(standbyDSN)))
	if !res.Done {
		t.Errorf("after switching back, the DR standby: %s", res.Summary)
	}
}

func TestRejoinFallsBackToABaseBackup(t *testing.T) {
	l := labtest.Fresh(t)
	env := l.Env()
	ctx := context.Background()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		t.Fatal(err)
	}
	// The standby notices its primary is gone: not streaming any more.
	notStreaming := build(t, "postgres.replicationLag", &ReplicationLagConfig{RequireStreaming: true}, conn(env["LAB_PG_STANDBY_DSN"]))
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := check(t, notStreaming)
		if !res.Done && strings.Contains(res.Summary, "not streaming") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby of a killed primary still reported streaming: %+v", res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	converge(t, build(t, "postgres.promote", &PromoteConfig{}, conn(env["LAB_PG_STANDBY_DSN"])), 60*time.Second)
	t.Logf("promoted in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	res := converge(t, build(t, "postgres.rejoinAsStandby", &RejoinAsStandbyConfig{
		DataDir: env["LAB_PG_PRIMARY_DATA"], PrimaryConnInfo: env["LAB_PG_STANDBY_DSN"], BinDir: env["LAB_PG_BIN"],
		Method: MethodBaseBackup, StartOptions: env["LAB_PG_PRIMARY_START_OPTIONS"]}, conn(env["LAB_PG_PRIMARY_DIRECT_DSN"])), 2*time.Minute)
	t.Logf("rejoined in %s", time.Since(start).Round(time.Millisecond))
	if res.Outputs["method"] != "basebackup" {
		t.Errorf("method = %q, want basebackup", res.Outputs["method"])
	}
	start = time.Now()
	defer func() { t.Logf("caught up in %s", time.Since(start).Round(time.Millisecond)) }()
	converge(t, build(t, "postgres.replicationLag", &ReplicationLagConfig{
		MaxLag: "5s", MaxBytes: 1, PrimaryDSN: env["LAB_PG_STANDBY_DSN"], RequireStreaming: true}, conn(env["LAB_PG_PRIMARY_DIRECT_DSN"])), 30*time.Second)
}
