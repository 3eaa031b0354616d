package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// TestMain brings up the lab the non-destructive tests share
// (labtest.Shared); tests that move the master start their own (labtest.Fresh).
func TestMain(m *testing.M) { labtest.Main(m, "redis") }

// conn is the lab's redis connection with addr set to the given node.
func conn(l *lab.Lab, addr string) *steps.Connection {
	env := l.Env()
	return &steps.Connection{Name: "lab_redis", Type: "redis", Region: "dr", Fields: map[string]string{
		"addr": addr, "password": env["LAB_REDIS_PASSWORD"], "sentinels": env["LAB_REDIS_SENTINELS"],
		"masterName": env["LAB_REDIS_MASTER_NAME"]}}
}

// build decodes nothing: it checks cfg like the loader and builds the kind.
func build(t *testing.T, kind string, cfg steps.Config, c *steps.Connection) steps.Probe {
	t.Helper()
	return stepstest.Build(t, Register, kind, cfg, c)
}

// buildStep is build for a kind that changes something.
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
	lastErr := ""
	st, canApply := s.(steps.Step)
	for canApply {
		err := st.Apply(ctx)
		if err == nil {
			break
		}
		if steps.IsPermanent(err) {
			t.Fatalf("Apply: %v", err)
		}
		if last := fmt.Sprint(err); last != lastErr {
			t.Logf("Apply (transient, retried): %v", err)
			lastErr = last
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Apply did not succeed within %s: %v", deadline, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	for {
		res, err = s.Check(ctx)
		if err == nil && res.Done {
			return res
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not done within %s: %+v, %v", deadline, res, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestReplicationStatusOfTheDRReplica(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "redis.replicationStatus", &ReplicationStatusConfig{
		MasterAddr: env["LAB_REDIS_PRIMARY_ADDR"], ExpectMaster: env["LAB_REDIS_PRIMARY_ADDR"], MaxOffsetGap: 1 << 20,
	}, conn(labtest.Shared(), env["LAB_REDIS_DR_ADDR"])))
	if !res.Done || res.Outputs["linkStatus"] != "up" || res.Outputs["master"] != env["LAB_REDIS_PRIMARY_ADDR"] {
		t.Errorf("replicationStatus = %+v, want done, link up, master %s", res, env["LAB_REDIS_PRIMARY_ADDR"])
	}
}

func TestReplicationStatusIsNotDoneOnAMasterOrTheWrongMaster(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "redis.replicationStatus", &ReplicationStatusConfig{}, conn(labtest.Shared(), env["LAB_REDIS_PRIMARY_ADDR"])))
	if res.Done || !strings.Contains(res.Summary, "is a master, not a replica") {
		t.Errorf("on the master: %+v", res)
	}
	res = check(t, build(t, "redis.replicationStatus", &ReplicationStatusConfig{ExpectMaster: "127.0.0.1:1"}, conn(labtest.Shared(), env["LAB_REDIS_DR_ADDR"])))
	if res.Done || !strings.Contains(res.Summary, "not 127.0.0.1:1") {
		t.Errorf("with the wrong expected master: %+v", res)
	}
}

func TestPromoteIsDoneOnAMaster(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "redis.promote", &PromoteConfig{}, conn(labtest.Shared(), env["LAB_REDIS_PRIMARY_ADDR"])))
	if !res.Done || res.Outputs["role"] != "master" {
		t.Errorf("promote Check on the master = %+v, want done", res)
	}
	res = check(t, build(t, "redis.promote", &PromoteConfig{}, conn(labtest.Shared(), env["LAB_REDIS_DR_ADDR"])))
	if res.Done || !strings.Contains(res.Summary, "is a replica of "+env["LAB_REDIS_PRIMARY_ADDR"]) {
		t.Errorf("promote Check on the replica = %+v, want not done", res)
	}
}

func TestSentinelMonitorCheckSeesTheCurrentMaster(t *testing.T) {
	env := labtest.Shared().Env()
	c := conn(labtest.Shared(), "")
	res := check(t, build(t, "redis.sentinelMonitor", &SentinelMonitorConfig{
		Host: env["LAB_REDIS_PRIMARY_HOST"], Port: env["LAB_REDIS_PRIMARY_PORT"], Quorum: 2}, c))
	if !res.Done || res.Outputs["master"] != env["LAB_REDIS_PRIMARY_ADDR"] {
		t.Errorf("sentinelMonitor Check = %+v, want done", res)
	}
	res = check(t, build(t, "redis.sentinelMonitor", &SentinelMonitorConfig{
		Host: env["LAB_REDIS_PRIMARY_HOST"], Port: env["LAB_REDIS_PRIMARY_PORT"], Quorum: 3}, c))
	if res.Done || !strings.Contains(res.Summary, "quorum 2, want 3") {
		t.Errorf("with another quorum: %+v, want not done naming the quorum", res)
	}
}

func TestSentinelsHealthy(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "redis.sentinelsHealthy", &SentinelsHealthyConfig{}, conn(labtest.Shared(), "")))
	if !res.Done || res.Outputs["master"] != env["LAB_REDIS_PRIMARY_ADDR"] {
		t.Errorf("sentinelsHealthy = %+v, want done on the primary", res)
	}
	res = check(t, build(t, "redis.sentinelsHealthy", &SentinelsHealthyConfig{ExpectMaster: env["LAB_REDIS_DR_ADDR"]}, conn(labtest.Shared(), "")))
	if res.Done || !strings.Contains(res.Summary, "not "+env["LAB_REDIS_DR_ADDR"]) {
		t.Errorf("sentinelsHealthy expecting DR = %+v, want not done", res)
	}
	c := conn(labtest.Shared(), "")
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := refused.Addr().String()
	refused.Close()
	c.Fields["sentinels"] += "," + dead
	res = check(t, build(t, "redis.sentinelsHealthy", &SentinelsHealthyConfig{CallTimeout: "500ms"}, c))
	if res.Done || !strings.Contains(res.Summary, "1 of 4 sentinels unreachable") || !strings.Contains(res.Summary, dead) {
		t.Errorf("with a dead sentinel = %+v, want not done naming it", res)
	}
}

func TestSentinelFailoverCheckIsNotDoneUntilTheExpectedNodeIsMaster(t *testing.T) {
	env := labtest.Shared().Env()
	res := check(t, build(t, "redis.sentinelFailover", &SentinelFailoverConfig{ExpectMaster: env["LAB_REDIS_DR_ADDR"]}, conn(labtest.Shared(), "")))
	if res.Done || !strings.Contains(res.Summary, "0 of 3 sentinels report") {
		t.Errorf("sentinelFailover Check before any failover = %+v, want not done", res)
	}
	res = check(t, build(t, "redis.sentinelFailover", &SentinelFailoverConfig{ExpectMaster: env["LAB_REDIS_PRIMARY_ADDR"]}, conn(labtest.Shared(), "")))
	if !res.Done {
		t.Errorf("sentinelFailover Check expecting the current master = %+v, want done", res)
	}
}

func TestSentinelMonitorApplyNamesTheSentinelsItCouldNotConfigure(t *testing.T) {
	env := labtest.Shared().Env()
	c := conn(labtest.Shared(), "")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	c.Fields["sentinels"] += "," + deadAddr
	// The current master, so that the live sentinels are left as they are.
	s := buildStep(t, "redis.sentinelMonitor", &SentinelMonitorConfig{Host: env["LAB_REDIS_PRIMARY_HOST"], Port: env["LAB_REDIS_PRIMARY_PORT"],
		Quorum: 2, CallTimeout: "500ms"}, c)
	err := s.Apply(context.Background())
	if err == nil || !strings.Contains(err.Error(), deadAddr) || steps.IsPermanent(err) {
		t.Errorf("Apply with a dead sentinel = %v, want a transient error naming %s", err, deadAddr)
	}
	res := check(t, s)
	if res.Done || !strings.Contains(res.Summary, "1 of 4 sentinels do not monitor") {
		t.Errorf("Check with a dead sentinel = %+v", res)
	}
}

func TestWrongPasswordIsPermanentAndNeverPrinted(t *testing.T) {
	env := labtest.Shared().Env()
	c := conn(labtest.Shared(), env["LAB_REDIS_DR_ADDR"])
	c.Fields["password"] = "not-the-password-xyz"
	_, err := build(t, "redis.promote", &PromoteConfig{}, c).Check(context.Background())
	if err == nil || !steps.IsPermanent(err) {
		t.Fatalf("Check with a wrong password = %v, want a permanent error", err)
	}
	if strings.Contains(err.Error(), "not-the-password-xyz") || strings.Contains(err.Error(), env["LAB_REDIS_PASSWORD"]) {
		t.Errorf("error leaks a password: %v", err)
	}
}

func TestUnreachableNodesAnswerWithinTheCallTimeout(t *testing.T) {
	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	hole, err := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog), never answers
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	for _, addr := range []string{refused, hole.Addr().String()} {
		s := build(t, "redis.promote", &PromoteConfig{CallTimeout: "500ms"}, conn(labtest.Shared(), addr))
		start := time.Now()
		_, err := s.Check(context.Background())
		if took := time.Since(start); took > 500*time.Millisecond+2*time.Second {
			t.Errorf("%s: Check took %s, want about the 500ms call timeout", addr, took)
		}
		if err == nil {
			t.Errorf("%s: Check succeeded against a dead node", addr)
		} else if steps.IsPermanent(err) {
			t.Errorf("%s: an unreachable node is transient, got permanent %v", addr, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		cfg    steps.Config
		fields []string
	}{
		{"monitor without host or port", &SentinelMonitorConfig{}, []string{"host", "port"}},
		{"monitor with a bad port and timing", &SentinelMonitorConfig{Host: "h", Port: "99999", DownAfter: "x", Quorum: -1}, []string{"port", "downAfter", "quorum"}},
		{"failover without expected master", &SentinelFailoverConfig{}, []string{"expectMaster"}},
		{"failover with a bad address", &SentinelFailoverConfig{ExpectMaster: "nohost"}, []string{"expectMaster"}},
		{"status with a negative gap", &ReplicationStatusConfig{MaxOffsetGap: -1, MasterAddr: "x"}, []string{"maxOffsetGap", "masterAddr"}},
		{"promote with a bad timeout", &PromoteConfig{CallTimeout: "-1s"}, []string{"callTimeout"}},
		{"replicaOf without master", &ReplicaOfConfig{}, []string{"host", "port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckAndSetDefaults()
			for _, f := range tt.fields {
				var fe *steps.FieldError
				found := false
				for _, e := range unjoin(err) {
					if errors.As(e, &fe) && fe.Field == f {
						found = true
					}
				}
				if !found {
					t.Errorf("CheckAndSetDefaults() = %v, want an error on %s", err, f)
				}
			}
		})
	}
	ok := &SentinelMonitorConfig{Host: "${env:LAB_REDIS_DR_HOST}", Port: "${env:LAB_REDIS_DR_PORT}"}
	if err := ok.CheckAndSetDefaults(); err != nil {
		t.Errorf("templated host/port refused: %v", err)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// rawSentinelMonitor points one sentinel at addr behind the step's back.
func rawSentinelMonitor(t *testing.T, sentinel, addr, password string) {
	t.Helper()
	ctx := context.Background()
	sc := goredis.NewSentinelClient(&goredis.Options{Addr: sentinel, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer sc.Close()
	host, port, _ := net.SplitHostPort(addr)
	_ = sc.Remove(ctx, lab.MasterName).Err()
	if err := sc.Monitor(ctx, lab.MasterName, host, port, "2").Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Set(ctx, lab.MasterName, "auth-pass", password).Err(); err != nil {
		t.Fatal(err)
	}
}
