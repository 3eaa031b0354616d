package metrics

import (
	"context"

	"github.com/failoverbot/failoverbot/internal/events"
)

// Notify counts one executor event: it is an events.Sink, teed beside the
// notification pipeline. It never blocks.
func (m *Metrics) Notify(_ context.Context, e events.Event) {
	m.runEvents.WithLabelValues(string(e.Type)).Inc()
	switch e.Type {
	case events.RunSucceeded, events.RunFailed, events.RunAborted, events.RunRejected, events.RunExpired, events.RunCancelled:
		m.runsEnded.WithLabelValues(outcomeOf(e.Type)).Inc()
	}
	switch e.Type {
	case events.RunApproved, events.RunRejected, events.RunExpired, events.RunCancelled:
		m.approvals.WithLabelValues("run", outcomeOf(e.Type)).Inc()
	case events.GateApproved, events.GateRejected, events.GateExpired:
		m.approvals.WithLabelValues("step", outcomeOf(e.Type)).Inc()
	}
	if e.StepID == "" {
		return
	}
	key := e.RunID + "\x00" + e.StepID
	switch e.Type {
	case events.StepStarted:
		m.mu.Lock()
		if _, ok := m.started[key]; !ok && len(m.started) < maxStarted {
			m.started[key] = e.At
		}
		m.mu.Unlock()
	case events.StepApplying:
		m.applies.WithLabelValues(m.o.KindOf(e.Runbook, e.StepID)).Inc()
	case events.StepRetrying:
		m.retries.WithLabelValues(m.o.KindOf(e.Runbook, e.StepID)).Inc()
	case events.StepDone, events.StepFailed, events.StepSkipped:
		kind := m.o.KindOf(e.Runbook, e.StepID)
		outcome := map[events.Type]string{events.StepDone: "done", events.StepFailed: "failed", events.StepSkipped: "skipped"}[e.Type]
		if e.Type == events.StepDone && len(e.Summary) >= len("already done") && e.Summary[:len("already done")] == "already done" {
			outcome = "already_done"
		}
		m.steps.WithLabelValues(kind, outcome).Inc()
		m.mu.Lock()
		at, ok := m.started[key]
		delete(m.started, key)
		m.mu.Unlock()
		if ok && !e.At.IsZero() && !e.At.Before(at) {
			m.stepDur.WithLabelValues(kind, outcome).Observe(e.At.Sub(at).Seconds())
		}
	}
}

// outcomeOf is the outcome label of an ending event.
func outcomeOf(t events.Type) string {
	switch t {
	case events.RunSucceeded:
		return "succeeded"
	case events.RunFailed:
		return "failed"
	case events.RunAborted:
		return "aborted"
	case events.RunRejected, events.GateRejected:
		return "rejected"
	case events.RunExpired, events.GateExpired:
		return "expired"
	case events.RunCancelled:
		return "cancelled"
	case events.RunApproved, events.GateApproved:
		return "approved"
	}
	return string(t)
}
