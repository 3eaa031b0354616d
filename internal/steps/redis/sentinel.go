package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// SentinelMonitor is a redis.sentinelMonitor step.
type SentinelMonitor struct {
	t          *target
	cfg        SentinelMonitorConfig
	masterName string
	master     string // host:port
	quorum     int
}

var _ steps.Step = (*SentinelMonitor)(nil)

func newSentinelMonitor(_ context.Context, c *SentinelMonitorConfig, env steps.Env) (steps.Step, error) {
	t, err := newTarget("redis.sentinelMonitor", env, c.CallTimeout, false, true)
	if err != nil {
		return nil, err
	}
	s := &SentinelMonitor{t: t, cfg: *c, masterName: c.MasterName, quorum: c.Quorum}
	if s.masterName == "" {
		s.masterName = t.masterName
	}
	if s.masterName == "" {
		return nil, steps.Permanentf("redis.sentinelMonitor: no masterName in the step or connection %s", t.name)
	}
	if err := checkPort("port", c.Port); err != nil || steps.IsTemplate(c.Host+c.Port) {
		return nil, steps.Permanentf("redis.sentinelMonitor: bad master address %q:%q", c.Host, c.Port)
	}
	s.master = net.JoinHostPort(c.Host, c.Port)
	if s.quorum == 0 {
		s.quorum = len(t.sentinels)/2 + 1
	}
	if s.quorum > len(t.sentinels) {
		return nil, steps.Permanentf("redis.sentinelMonitor: quorum %d is more than the %d sentinels of %s", s.quorum, len(t.sentinels), t.name)
	}
	if s.cfg.AuthPass == "" {
		s.cfg.AuthPass = t.password
	}
	t.red.Add(s.cfg.AuthPass)
	return s, nil
}

// Check: done when every sentinel reports the master at host:port (by
// SENTINEL GET-MASTER-ADDR-BY-NAME) with the configured quorum. A sentinel
// that is unreachable or disagrees makes it not done, named in the summary.
func (s *SentinelMonitor) Check(ctx context.Context) (steps.Result, error) {
	v := s.t.sentinelViews(ctx, s.masterName)
	if len(v.errs) == len(s.t.sentinels) {
		return steps.Result{}, fmt.Errorf("redis.sentinelMonitor: no sentinel reachable: %s", v.describe(s.t.sentinels))
	}
	var wrong []string
	for _, sa := range s.t.sentinels {
		if v.errs[sa] != nil || !sameAddr(v.masters[sa], s.master) {
			wrong = append(wrong, sa)
			continue
		}
		if q, err := s.quorumOf(ctx, sa); err != nil || q != s.quorum {
			wrong = append(wrong, sa)
			v.masters[sa] += fmt.Sprintf(" (quorum %d, want %d)", q, s.quorum)
		}
	}
	if len(wrong) == 0 {
		return steps.Result{Done: true, Outputs: map[string]string{"master": s.master},
			Summary: fmt.Sprintf("all %d sentinels monitor %s at %s (quorum %d)", len(s.t.sentinels), s.masterName, s.master, s.quorum)}, nil
	}
	return steps.Result{Outputs: map[string]string{"master": ""},
		Summary: fmt.Sprintf("%d of %d sentinels do not monitor %s at %s: %s", len(wrong), len(s.t.sentinels), s.masterName, s.master, v.describe(s.t.sentinels))}, nil
}

func (s *SentinelMonitor) quorumOf(ctx context.Context, sentinelAddr string) (int, error) {
	sc := s.t.sentinel(sentinelAddr)
	defer sc.Close()
	ctx, cancel := s.t.call(ctx)
	defer cancel()
	m, err := sc.Master(ctx, s.masterName).Result()
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(m["quorum"])
}

// Apply runs REMOVE + MONITOR (+ SET auth-pass and timings) on every
// sentinel that does not already monitor the right master, all at once.
// It fails, naming them, if any sentinel could not be configured; the
// others keep their new configuration and a retry skips them.
func (s *SentinelMonitor) Apply(ctx context.Context) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	host, port, _ := net.SplitHostPort(s.master)
	for _, sa := range s.t.sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.configure(ctx, sa, host, port); err != nil {
				mu.Lock()
				errs = append(errs, s.t.wrap(err, "sentinel %s", sa))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("redis.sentinelMonitor %s at %s: %w", s.masterName, s.master, err)
	}
	return nil
}

func (s *SentinelMonitor) configure(ctx context.Context, sa, host, port string) error {
	if m, err := s.t.masterOf(ctx, sa, s.masterName); err != nil {
		return err
	} else if sameAddr(m, s.master) {
		if q, err := s.quorumOf(ctx, sa); err == nil && q == s.quorum {
			return nil
		}
	}
	sc := s.t.sentinel(sa)
	defer sc.Close()
	do := func(what string, f func(context.Context) error) error {
		cctx, cancel := s.t.call(ctx)
		defer cancel()
		if err := f(cctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	err := do("SENTINEL REMOVE", func(c context.Context) error { return sc.Remove(c, s.masterName).Err() })
	if err != nil && !strings.Contains(err.Error(), "No such master") {
		return err
	}
	if err := do("SENTINEL MONITOR", func(c context.Context) error {
		return sc.Monitor(c, s.masterName, host, port, strconv.Itoa(s.quorum)).Err()
	}); err != nil {
		return err
	}
	set := map[string]string{}
	if s.cfg.AuthPass != "" {
		set["auth-pass"] = s.cfg.AuthPass
	}
	if s.cfg.DownAfter != "" {
		set["down-after-milliseconds"] = strconv.FormatInt(steps.ParseDuration(s.cfg.DownAfter).Milliseconds(), 10)
	}
	if s.cfg.FailoverTimeout != "" {
		set["failover-timeout"] = strconv.FormatInt(steps.ParseDuration(s.cfg.FailoverTimeout).Milliseconds(), 10)
	}
	for k, v := range set {
		if err := do("SENTINEL SET "+k, func(c context.Context) error { return sc.Set(c, s.masterName, k, v).Err() }); err != nil {
			return err
		}
	}
	return nil
}

// SentinelFailover is a redis.sentinelFailover step.
type SentinelFailover struct {
	t          *target
	masterName string
	expect     string
}

var (
	_ steps.Step   = (*SentinelFailover)(nil)
	_ steps.Closer = (*SentinelFailover)(nil)
)

func newSentinelFailover(_ context.Context, c *SentinelFailoverConfig, env steps.Env) (steps.Step, error) {
	if err := checkAddr("expectMaster", c.ExpectMaster); err != nil || steps.IsTemplate(c.ExpectMaster) {
		return nil, steps.Permanentf("redis.sentinelFailover: expectMaster is not host:port: %q", c.ExpectMaster)
	}
	t, err := newTarget("redis.sentinelFailover", env, c.CallTimeout, false, true)
	if err != nil {
		return nil, err
	}
	f := &SentinelFailover{t: t, masterName: c.MasterName, expect: c.ExpectMaster}
	if f.masterName == "" {
		f.masterName = t.masterName
	}
	if f.masterName == "" {
		return nil, steps.Permanentf("redis.sentinelFailover: no masterName in the step or connection %s", t.name)
	}
	return f, nil
}

// Check: done when a majority of the sentinels are reachable, all the
// reachable ones report the expected master, and that node says ROLE
// master.
func (f *SentinelFailover) Check(ctx context.Context) (steps.Result, error) {
	v := f.t.sentinelViews(ctx, f.masterName)
	reachable := len(f.t.sentinels) - len(v.errs)
	if reachable == 0 {
		return steps.Result{}, fmt.Errorf("redis.sentinelFailover: no sentinel reachable: %s", v.describe(f.t.sentinels))
	}
	agree := 0
	for _, m := range v.masters {
		if sameAddr(m, f.expect) {
			agree++
		}
	}
	out := map[string]string{"master": ""}
	if agree != reachable || reachable <= len(f.t.sentinels)/2 {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%d of %d sentinels report %s at %s: %s",
			agree, len(f.t.sentinels), f.masterName, f.expect, v.describe(f.t.sentinels))}, nil
	}
	c := f.t.node(f.expect)
	defer c.Close()
	r, err := f.t.role(ctx, c)
	if err != nil {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("sentinels report %s, which does not answer: %v", f.expect, f.t.wrap(err, "ROLE"))}, nil
	}
	if r.role != "master" {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("sentinels report %s, which is still a %s", f.expect, r.role)}, nil
	}
	out["master"] = f.expect
	return steps.Result{Done: true, Outputs: out,
		Summary: fmt.Sprintf("%s is master of %s for %d of %d sentinels", f.expect, f.masterName, agree, len(f.t.sentinels))}, nil
}

// Apply asks the first sentinel that answers for SENTINEL FAILOVER; a
// failover already in progress counts as started.
func (f *SentinelFailover) Apply(ctx context.Context) error {
	var errs []error
	for _, sa := range f.t.sentinels {
		sc := f.t.sentinel(sa)
		cctx, cancel := f.t.call(ctx)
		err := sc.Failover(cctx, f.masterName).Err()
		cancel()
		sc.Close()
		if err == nil || strings.Contains(err.Error(), "INPROG") {
			return nil
		}
		if strings.Contains(err.Error(), "NOGOODSLAVE") {
			// No replica is fit to promote right now; the sentinel's view
			// may still be catching up: transient.
			return fmt.Errorf("redis.sentinelFailover: sentinel %s: no replica fit for promotion: %w", sa, err)
		}
		errs = append(errs, f.t.wrap(err, "sentinel %s", sa))
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("redis.sentinelFailover %s: %w", f.masterName, errors.Join(errs...))
}

// Close is a no-op: clients are per call.
func (f *SentinelFailover) Close() error { return nil }
