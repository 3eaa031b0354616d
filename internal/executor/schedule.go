package executor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Which steps of a phase may start, and whether the phase is complete or
// blocked: read from the run's step states under c.mu.

// phaseFresh reports whether no step of the phase has started yet.
func (c *runCtl) phaseFresh(ph *runbook.Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ph.Steps {
		if c.states[s.ID].Status != store.StepPending {
			return false
		}
	}
	return true
}

func (c *runCtl) phaseComplete(ph *runbook.Phase) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ph.Steps {
		if !c.states[s.ID].Status.Terminal() {
			return false
		}
	}
	return true
}

// blockingLocked reports the failed steps of the phase that no alternative
// can replace any more (see alternatives.go), as a pause reason.
func (c *runCtl) blockingLocked(ph *runbook.Phase) (string, bool) {
	var reasons []string
	for _, s := range ph.Steps {
		if r, blocked := c.blockedRootLocked(s); blocked {
			reasons = append(reasons, r)
		}
	}
	return strings.Join(reasons, "; "), len(reasons) > 0
}

// alternativesOf returns the direct alternatives of step id, in runbook
// order.
func (c *runCtl) alternativesOf(id string) []*runbook.Step {
	var out []*runbook.Step
	for _, s := range c.rb.AllSteps() {
		if s.AlternativeOf == id {
			out = append(out, s)
		}
	}
	return out
}

// readyLocked returns the phase's steps that may start now.
func (c *runCtl) readyLocked(ph *runbook.Phase) []*runbook.Step {
	var out []*runbook.Step
	for _, s := range ph.Steps {
		st := c.states[s.ID]
		if c.flying[s.ID] || st.Status.Terminal() || st.Status == store.StepFailed {
			continue
		}
		if s.AlternativeOf != "" {
			// One link of the chain at a time: only the alternative its
			// tree tries now.
			if root := c.rootOfLocked(s.ID); root == "" || c.nextAlternativeLocked(root) != s {
				continue
			}
		}
		ok := true
		for _, n := range s.Needs {
			if ns := c.states[n]; ns == nil || !ns.Status.Terminal() {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// claimReady returns the steps that may start now, marked in flight, or
// none while the run is stopping (a failure to handle, a pause).
func (c *runCtl) claimReady(ctx context.Context, ph *runbook.Phase) []*runbook.Step {
	if ctx.Err() != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, blocked := c.blockingLocked(ph); blocked || c.pauseBy != "" {
		return nil
	}
	ready := c.readyLocked(ph)
	for _, s := range ready {
		c.flying[s.ID] = true
	}
	return ready
}

func (c *runCtl) unclaim(ready []*runbook.Step) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range ready {
		delete(c.flying, s.ID)
	}
}

// varsLocked returns the template data of the run: its parameters (with
// the runbook's defaults), the outputs of finished steps and the run.
func (c *runCtl) varsLocked() runbook.Vars {
	v := runbook.Vars{Params: c.rb.ParamsWithDefaults(c.run.Params), Outputs: map[string]map[string]string{},
		Run: &runbook.RunInfo{ID: c.run.ID, Requester: c.run.Requester, StartedAt: c.run.StartedAt, Approvers: slices.Clone(c.approvers)}}
	for id, st := range c.states {
		if st.Status == store.StepDone || st.Status == store.StepReplaced {
			v.Outputs[id] = maps.Clone(st.Outputs)
			if v.Outputs[id] == nil {
				v.Outputs[id] = map[string]string{}
			}
		}
	}
	return v
}

// loadApprovers reads, once, who approved the run's plan: the approve
// decisions bound to its plan hash, oldest first.
func (c *runCtl) loadApprovers(ctx context.Context) error {
	c.mu.Lock()
	loaded, hash := c.approvers != nil, c.run.PlanHash
	c.mu.Unlock()
	if loaded {
		return nil
	}
	var list []*store.Approval
	err := c.e.storeCall(ctx, func(ctx context.Context) error {
		var err error
		list, err = c.e.cfg.Store.Approvals(ctx, c.id)
		return err
	})
	if err != nil {
		return fmt.Errorf("load the approvals of run %s: %w", c.id, err)
	}
	names := []string{}
	for _, a := range list {
		if a.Decision == store.Approve && a.PlanHash == hash && !slices.Contains(names, a.User) {
			names = append(names, a.User)
		}
	}
	c.mu.Lock()
	c.approvers = names
	c.mu.Unlock()
	return nil
}
