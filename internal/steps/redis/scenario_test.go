package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
)

// The lab failover and failback, Redis side: the primary region is
// blackholed, the DR replica is promoted, the sentinels (one of which
// disagrees) are moved to it; then the primary region comes back, its Redis
// rejoins as a replica, and a Sentinel failover moves the master home.
func TestFailoverToDRAndBack(t *testing.T) {
	l := labtest.Fresh(t)
	env := l.Env()
	primary, dr := env["LAB_REDIS_PRIMARY_ADDR"], env["LAB_REDIS_DR_ADDR"]
	sentinels := strings.Split(env["LAB_REDIS_SENTINELS"], ",")
	ctx := context.Background()

	if err := l.FailPrimary(ctx, lab.FailBlackhole); err != nil {
		t.Fatal(err)
	}

	t.Run("checks against a blackholed primary answer within their deadline", func(t *testing.T) {
		steps := map[string]func() error{
			"redis.promote": func() error {
				_, err := build(t, "redis.promote", &PromoteConfig{CallTimeout: "1s"}, conn(l, primary)).Check(ctx)
				return err
			},
			"redis.replicationStatus against the master": func() error {
				_, err := build(t, "redis.replicationStatus", &ReplicationStatusConfig{MasterAddr: primary, CallTimeout: "1s"}, conn(l, dr)).Check(ctx)
				return err
			},
		}
		for name, f := range steps {
			start := time.Now()
			err := f()
			took := time.Since(start)
			if err == nil {
				t.Errorf("%s: no error against a blackholed primary", name)
			}
			if took > time.Second+2*time.Second {
				t.Errorf("%s: took %s, want about the 1s call timeout", name, took)
			}
			t.Logf("%s: %s: %v", name, took.Round(time.Millisecond), err)
		}
	})

	res := converge(t, build(t, "redis.promote", &PromoteConfig{}, conn(l, dr)), 20*time.Second)
	if res.Outputs["role"] != "master" {
		t.Fatalf("after promote: %+v", res)
	}

	// One sentinel already moved by hand: the sentinels disagree.
	rawSentinelMonitor(t, sentinels[0], dr, env["LAB_REDIS_PASSWORD"])
	monitor := build(t, "redis.sentinelMonitor", &SentinelMonitorConfig{
		Host: env["LAB_REDIS_DR_HOST"], Port: env["LAB_REDIS_DR_PORT"]}, conn(l, ""))
	res = check(t, monitor)
	if res.Done || !strings.Contains(res.Summary, "2 of 3 sentinels do not monitor") ||
		!strings.Contains(res.Summary, sentinels[1]+" → "+primary) {
		t.Errorf("with disagreeing sentinels, Check = %+v, want not done naming them", res)
	}
	healthy := build(t, "redis.sentinelsHealthy", &SentinelsHealthyConfig{ExpectMaster: dr}, conn(l, ""))
	if res := check(t, healthy); res.Done || !strings.Contains(res.Summary, "sentinels disagree") {
		t.Errorf("sentinelsHealthy with disagreeing sentinels = %+v, want not done", res)
	}
	res = converge(t, monitor, 20*time.Second)
	if res := check(t, healthy); !res.Done || res.Outputs["master"] != dr {
		t.Errorf("sentinelsHealthy after the move = %+v, want done on %s", res, dr)
	}
	if res.Outputs["master"] != dr {
		t.Errorf("after sentinelMonitor: %+v", res)
	}
	for _, s := range sentinels {
		if m, err := monitor.(*SentinelMonitor).t.masterOf(ctx, s, lab.MasterName); err != nil || m != dr {
			t.Errorf("sentinel %s reports %q (%v), want %s", s, m, err, dr)
		}
	}

	// Failback.
	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	converge(t, build(t, "redis.replicaOf", &ReplicaOfConfig{Host: env["LAB_REDIS_DR_HOST"], Port: env["LAB_REDIS_DR_PORT"]}, conn(l, primary)), 30*time.Second)
	res = converge(t, build(t, "redis.replicationStatus", &ReplicationStatusConfig{MasterAddr: dr, ExpectMaster: dr}, conn(l, primary)), 30*time.Second)
	if res.Outputs["offsetGap"] != "0" {
		t.Errorf("primary caught up: %+v", res)
	}
	res = converge(t, build(t, "redis.sentinelFailover", &SentinelFailoverConfig{ExpectMaster: primary}, conn(l, "")), 60*time.Second)
	if res.Outputs["master"] != primary {
		t.Errorf("after sentinelFailover: %+v", res)
	}
	// The sentinels turn the old master (DR) into a replica of the new one.
	res = converge(t, build(t, "redis.replicationStatus", &ReplicationStatusConfig{ExpectMaster: primary, MaxOffsetGap: 1 << 20}, conn(l, dr)), 30*time.Second)
	t.Logf("DR after failback: %s", res.Summary)
}
