package report

import (
	"slices"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

// spans reads the step's wait and retries from its audit records (in
// order), clipped to the step's own start and end.
func (s *Step) spans(evs []*store.AuditEvent) {
	end := s.End
	clip := func(sp Span) (Span, bool) {
		if !s.Start.IsZero() && sp.Start.Before(s.Start) {
			sp.Start = s.Start
		}
		if !end.IsZero() && sp.End.After(end) {
			sp.End = end
		}
		return sp, !sp.Start.IsZero() && !sp.End.IsZero() && sp.End.After(sp.Start)
	}
	lastApply := -1
	for i, e := range evs {
		switch e.Type {
		case "step.applying":
			lastApply = i
		case "gate.waiting":
			s.Gate = true
		}
	}
	// The wait: from the first waiting record after the last Apply (or, for
	// a step without Apply, the first one) to the step's end — for a gate,
	// to its decision.
	for i := lastApply + 1; i < len(evs); i++ {
		e := evs[i]
		if e.Type != "step.waiting" && e.Type != "gate.waiting" {
			continue
		}
		w := Span{Start: e.At, End: end}
		for _, d := range evs[i+1:] {
			if d.Type == "gate.approved" || d.Type == "gate.rejected" || d.Type == "gate.expired" {
				w.End = d.At
				break
			}
		}
		if w.End.IsZero() {
			break
		}
		if w, ok := clip(w); ok {
			s.Wait = w
		}
		break
	}
	for i, e := range evs {
		if e.Type != "step.retrying" {
			continue
		}
		r := Span{Start: e.At, End: end}
		if i+1 < len(evs) {
			r.End = evs[i+1].At
		}
		if r, ok := clip(r); ok {
			s.Retries = append(s.Retries, r)
		}
	}
}

// phases are the runbook's phases that have recorded steps (or, without
// the runbook, the phases the steps name), with their start and end from
// the phase.started and phase.done records, else from their steps.
func phases(steps []Step, audit []*store.AuditEvent, rb *runbook.Runbook) []Phase {
	var order []string
	names := map[string]string{}
	if rb != nil {
		for _, p := range rb.Phases {
			order = append(order, p.ID)
			names[p.ID] = p.Name
		}
	}
	byPhase := map[string][]Step{}
	for _, s := range steps {
		if s.Phase == "" {
			continue
		}
		if _, ok := byPhase[s.Phase]; !ok && !slices.Contains(order, s.Phase) {
			order = append(order, s.Phase)
		}
		byPhase[s.Phase] = append(byPhase[s.Phase], s)
	}
	started, done := map[string]time.Time{}, map[string]time.Time{}
	for _, e := range audit {
		ph := e.Data["phase"]
		switch {
		case ph == "":
		case e.Type == "phase.started" && started[ph].IsZero():
			started[ph] = e.At
		case e.Type == "phase.done":
			done[ph] = e.At
		}
	}
	var out []Phase
	for _, id := range order {
		ss := byPhase[id]
		if len(ss) == 0 && started[id].IsZero() {
			continue
		}
		p := Phase{ID: id, Name: names[id], Steps: len(ss), Start: started[id], End: done[id]}
		var lines []chat.StepProgress
		ended := len(ss) > 0
		var last time.Time
		for _, s := range ss {
			lines = append(lines, chat.StepProgress{Status: stepStatus(s.Status)})
			if started[id].IsZero() && !s.Start.IsZero() && (p.Start.IsZero() || s.Start.Before(p.Start)) {
				p.Start = s.Start
			}
			ended = ended && (s.Status.Terminal() || s.Status == store.StepFailed)
			if s.End.After(last) {
				last = s.End
			}
		}
		p.Status = phaseStatus(lines)
		switch {
		case !done[id].IsZero():
			p.Status = "done"
		case ended:
			p.End = last
		}
		out = append(out, p)
	}
	return out
}
