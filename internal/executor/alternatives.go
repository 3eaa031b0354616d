package executor

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// Alternatives (runbook.Step.AlternativeOf) form a tree under each step
// that is no alternative itself (its root): the root's alternatives, their
// alternatives, and so on (promote_db ← force_promote ← restore_from_backup).
// When the root fails, the tree is tried one step at a time, depth first
// in runbook order: an alternative runs only when the step it names has
// failed, and so has every step above that one up to the root, and only
// while no other step of the tree is being executed. The first alternative
// that succeeds replaces the failed steps above it, up to the root (each
// gets its outputs); the others are not needed. The run pauses when the
// root has failed and no alternative is left.
//
// Everything here is derived from the step states alone, so a run taken
// over after a crash goes on with the same link of the chain: a step
// recorded checking, applying or waiting is checked again before any other
// step of its tree starts.
//
// All functions ending in Locked are called with c.mu held.

// rootOfLocked returns the root of step id's alternative tree (id itself
// when it is no alternative), or "" when id is unknown or AlternativeOf
// loops.
func (c *runCtl) rootOfLocked(id string) string {
	seen := map[string]bool{}
	for !seen[id] {
		seen[id] = true
		s := c.rb.Step(id)
		if s == nil {
			return ""
		}
		if s.AlternativeOf == "" {
			return id
		}
		id = s.AlternativeOf
	}
	return ""
}

// chainFailedLocked reports whether every step above alternative s, from
// the one it names up to the root, has failed: s is then a live link of
// the chain.
func (c *runCtl) chainFailedLocked(s *runbook.Step) bool {
	seen := map[string]bool{}
	for id := s.AlternativeOf; id != ""; {
		st := c.states[id]
		t := c.rb.Step(id)
		if seen[id] || st == nil || t == nil || st.Status != store.StepFailed {
			return false
		}
		seen[id] = true
		id = t.AlternativeOf
	}
	return true
}

// treeLocked returns the alternatives under root, depth first, each step's
// alternatives in runbook order: the order in which they are tried.
func (c *runCtl) treeLocked(root string) []*runbook.Step {
	children := map[string][]*runbook.Step{}
	for _, s := range c.rb.AllSteps() {
		if s.AlternativeOf != "" {
			children[s.AlternativeOf] = append(children[s.AlternativeOf], s)
		}
	}
	var out []*runbook.Step
	seen := map[string]bool{root: true}
	var walk func(id string)
	walk = func(id string) {
		for _, s := range children[id] {
			if seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			out = append(out, s)
			walk(s.ID)
		}
	}
	walk(root)
	return out
}

// inProgress reports whether a step was started and has not ended: after
// a crash, it must be checked again before anything else of its tree.
func inProgress(s store.StepStatus) bool {
	return s == store.StepChecking || s == store.StepApplying || s == store.StepWaiting
}

// nextAlternativeLocked returns the step of root's tree to execute now,
// or nil when root has not failed or no alternative is left. It may be a
// step in flight: then no other step of the tree may start.
func (c *runCtl) nextAlternativeLocked(root string) *runbook.Step {
	if st := c.states[root]; st == nil || st.Status != store.StepFailed {
		return nil
	}
	tree := c.treeLocked(root)
	for _, s := range tree {
		if c.flying[s.ID] {
			return s
		}
	}
	for _, s := range tree {
		if inProgress(c.states[s.ID].Status) && c.chainFailedLocked(s) {
			return s
		}
	}
	for _, s := range tree {
		if c.states[s.ID].Status == store.StepPending && c.chainFailedLocked(s) {
			return s
		}
	}
	return nil
}

// treeFlyingLocked returns a step other than id of id's alternative tree
// (its root included) that is being executed, or "".
func (c *runCtl) treeFlyingLocked(id string) string {
	root := c.rootOfLocked(id)
	if root == "" {
		return ""
	}
	if root != id && c.flying[root] {
		return root
	}
	for _, s := range c.treeLocked(root) {
		if s.ID != id && c.flying[s.ID] {
			return s.ID
		}
	}
	return ""
}

// blockedRootLocked reports whether s is a failed root with no alternative
// left, and if so why, naming every alternative that was tried.
func (c *runCtl) blockedRootLocked(s *runbook.Step) (string, bool) {
	st := c.states[s.ID]
	if s.AlternativeOf != "" || st == nil || st.Status != store.StepFailed || c.nextAlternativeLocked(s.ID) != nil {
		return "", false
	}
	r := fmt.Sprintf("step %s failed: %s", s.ID, st.Error)
	for _, alt := range c.triedLocked(s.ID) {
		as := c.states[alt.ID]
		name := alt.ID
		if alt.AlternativeOf != s.ID {
			name += " (of " + alt.AlternativeOf + ")"
		}
		switch as.Status {
		case store.StepFailed:
			r += fmt.Sprintf("; alternative %s failed: %s", name, as.Error)
		case store.StepSkipped:
			r += fmt.Sprintf("; alternative %s %s", name, as.Summary)
		}
	}
	return r, true
}

// triedLocked returns the alternatives of root's tree that were reached
// (every step above them failed) and ended failed or skipped.
func (c *runCtl) triedLocked(root string) []*runbook.Step {
	var out []*runbook.Step
	for _, alt := range c.treeLocked(root) {
		as := c.states[alt.ID]
		if (as.Status == store.StepFailed || as.Status == store.StepSkipped) && c.chainFailedLocked(alt) {
			out = append(out, alt)
		}
	}
	return out
}

// whatNextLocked says, for the step.failed or step.skipped event of step
// id that has just ended with status, which alternative runs next, or that
// none is left; "" when id has no alternative tree or its root has not
// failed.
func (c *runCtl) whatNextLocked(id string, status store.StepStatus) string {
	s := c.rb.Step(id)
	root := c.rootOfLocked(id)
	if s == nil || root == "" {
		return ""
	}
	saved := c.states[id]
	cur := cloneStep(saved)
	cur.Status = status
	c.states[id] = cur
	flying := c.flying[id]
	delete(c.flying, id) // it has just ended
	defer func() {
		c.states[id] = saved
		if flying {
			c.flying[id] = true
		}
	}()
	if c.states[root].Status != store.StepFailed {
		return ""
	}
	next := c.nextAlternativeLocked(root)
	switch {
	case next == nil && len(c.treeLocked(root)) == 0:
		return ""
	case next == nil && root == id:
		return "no alternative left"
	case next == nil:
		return "no alternative of " + root + " left"
	case next.AlternativeOf == id:
		return "its alternative " + next.ID + " runs next"
	}
	return "alternative " + next.ID + " of " + next.AlternativeOf + " runs next"
}

// replacerLocked returns the alternative whose success replaced step id
// (following replaced alternatives down the chain), or nil.
func (c *runCtl) replacerLocked(id string) *runbook.Step {
	seen := map[string]bool{}
	for !seen[id] {
		seen[id] = true
		var via *runbook.Step
		for _, alt := range c.alternativesOf(id) {
			switch c.states[alt.ID].Status {
			case store.StepDone:
				return alt
			case store.StepReplaced:
				if via == nil {
					via = alt
				}
			}
		}
		if via == nil {
			return nil
		}
		id = via.ID
	}
	return nil
}

// replacedSummaryLocked is the summary of a step replaced through its
// alternative alt (done, or itself replaced further down the chain).
func (c *runCtl) replacedSummaryLocked(alt *runbook.Step) string {
	as := c.states[alt.ID]
	by := alt
	if as.Status == store.StepReplaced {
		by = c.replacerLocked(alt.ID)
	}
	if by == nil || by == alt {
		return fmt.Sprintf("replaced by %s: %s", alt.ID, as.Summary)
	}
	// The steps between alt and the one that succeeded, top down.
	var via []string
	for id := by.AlternativeOf; id != "" && len(via) < len(c.states); {
		via = append([]string{id}, via...)
		if id == alt.ID {
			break
		}
		s := c.rb.Step(id)
		if s == nil {
			break
		}
		id = s.AlternativeOf
	}
	return fmt.Sprintf("replaced by %s (via %s): %s", by.ID, strings.Join(via, ", "), c.states[by.ID].Summary)
}

// reconcile settles alternatives until nothing changes: a failed step
// whose alternative is done (or was itself replaced further down the
// chain) becomes replaced; an alternative whose step finished is not
// needed. Each change makes a step terminal, so it ends.
func (c *runCtl) reconcile(ctx context.Context, ph *runbook.Phase) error {
	for {
		changed, err := c.reconcileOnce(ctx, ph)
		if err != nil || !changed {
			return err
		}
	}
}

func (c *runCtl) reconcileOnce(ctx context.Context, ph *runbook.Phase) (bool, error) {
	changed := false
	for _, alt := range ph.Steps {
		if alt.AlternativeOf == "" {
			continue
		}
		c.mu.Lock()
		as, ts := c.states[alt.ID], c.states[alt.AlternativeOf]
		if c.flying[alt.ID] || ts == nil {
			c.mu.Unlock()
			continue
		}
		now := c.e.cfg.Now()
		var err error
		switch {
		case (as.Status == store.StepDone || as.Status == store.StepReplaced) && ts.Status == store.StepFailed:
			t := cloneStep(ts)
			t.Status = store.StepReplaced
			t.Summary = c.replacedSummaryLocked(alt)
			t.Outputs = maps.Clone(as.Outputs)
			t.EndedAt = now
			c.states[t.StepID] = t
			c.mu.Unlock()
			changed = true
			err = c.stepTransition(ctx, t, actorBot, "step.replaced", events.Event{Type: events.StepDone, Phase: phaseOf(c.rb, t.StepID), Summary: t.Summary})
		case as.Status == store.StepPending && ts.Status.Terminal():
			// Not needed: settled in memory only, so that an alternative
			// that never ran leaves no record (progress cards omit it).
			a := cloneStep(as)
			a.Status = store.StepSkipped
			a.Summary = fmt.Sprintf("not needed: %s is %s", alt.AlternativeOf, ts.Status)
			c.states[a.StepID] = a
			c.mu.Unlock()
			changed = true
		case !as.Status.Terminal() && ts.Status.Terminal():
			// It ran (and failed, or was cut short) before its step was
			// retried or skipped: record that it is no longer needed.
			a := cloneStep(as)
			a.Status = store.StepSkipped
			a.Summary = fmt.Sprintf("not needed: %s is %s", alt.AlternativeOf, ts.Status)
			a.EndedAt = now
			c.states[a.StepID] = a
			c.mu.Unlock()
			changed = true
			err = c.stepTransition(ctx, a, actorBot, string(events.StepSkipped), events.Event{Type: events.StepSkipped, Phase: alt.Phase, Summary: a.Summary})
		default:
			c.mu.Unlock()
		}
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

func phaseOf(rb *runbook.Runbook, stepID string) string {
	if s := rb.Step(stepID); s != nil {
		return s.Phase
	}
	return ""
}
