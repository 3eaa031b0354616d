package redis

import (
	"context"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// SentinelsHealthy is a redis.sentinelsHealthy step.
type SentinelsHealthy struct {
	t          *target
	masterName string
	expect     string
}

var _ steps.Probe = (*SentinelsHealthy)(nil)

func newSentinelsHealthy(_ context.Context, c *SentinelsHealthyConfig, env steps.Env) (steps.Probe, error) {
	if c.ExpectMaster != "" && (steps.IsTemplate(c.ExpectMaster) || checkAddr("expectMaster", c.ExpectMaster) != nil) {
		return nil, steps.Permanentf("redis.sentinelsHealthy: expectMaster is not host:port: %q", c.ExpectMaster)
	}
	t, err := newTarget("redis.sentinelsHealthy", env, c.CallTimeout, false, true)
	if err != nil {
		return nil, err
	}
	h := &SentinelsHealthy{t: t, masterName: c.MasterName, expect: c.ExpectMaster}
	if h.masterName == "" {
		h.masterName = t.masterName
	}
	if h.masterName == "" {
		return nil, steps.Permanentf("redis.sentinelsHealthy: no masterName in the step or connection %s", t.name)
	}
	return h, nil
}

// Check asks every sentinel at once, each within the call timeout.
func (h *SentinelsHealthy) Check(ctx context.Context) (steps.Result, error) {
	v := h.t.sentinelViews(ctx, h.masterName)
	out := map[string]string{"master": ""}
	masters := map[string]bool{}
	for _, m := range v.masters {
		masters[m] = true
	}
	desc := v.describe(h.t.sentinels)
	switch {
	case len(v.errs) > 0:
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("%d of %d sentinels unreachable: %s", len(v.errs), len(h.t.sentinels), desc)}, nil
	case len(masters) != 1 || masters[""]:
		return steps.Result{Outputs: out, Summary: "sentinels disagree on " + h.masterName + ": " + desc}, nil
	}
	var master string
	for m := range masters {
		master = m
	}
	if h.expect != "" && !sameAddr(master, h.expect) {
		return steps.Result{Outputs: out, Summary: fmt.Sprintf("all %d sentinels report %s at %s, not %s", len(h.t.sentinels), h.masterName, master, h.expect)}, nil
	}
	out["master"] = master
	return steps.Result{Done: true, Outputs: out, Summary: fmt.Sprintf("all %d sentinels agree: %s is at %s", len(h.t.sentinels), h.masterName, master)}, nil
}
