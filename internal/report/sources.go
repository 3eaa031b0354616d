package report

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/store"
)

// assessment is the one the plan carried when the run was requested: the
// run.requested record keeps the plan posted for approval (Data "plan",
// the JSON of the chat.PlanView, scrubbed). nil when it has none.
func assessment(audit []*store.AuditEvent) *Assessment {
	for _, e := range audit {
		if e.Type != "run.requested" || e.Data["plan"] == "" {
			continue
		}
		var v chat.PlanView
		if json.Unmarshal([]byte(e.Data["plan"]), &v) != nil || v.Assessment == nil {
			return nil
		}
		return &Assessment{At: e.At, View: *v.Assessment, ExpectedDataLoss: v.ExpectedDataLoss}
	}
	return nil
}

// queued is what a delivery's payload says of its event (events.Event as
// the pipeline stored it), for a row whose key names no audit record.
type queued struct {
	Type, Phase, StepID string
}

// deliveries are the log's rows of the run but the report's own, each
// named by the event it notified (its key is the event's audit Seq).
func deliveries(ds []*store.Delivery, audit []*store.AuditEvent) []Delivery {
	bySeq := map[int64]*store.AuditEvent{}
	for _, e := range audit {
		bySeq[e.Seq] = e
	}
	var out []Delivery
	for _, d := range ds {
		if d.Notifier == SelfNotifier {
			continue
		}
		r := Delivery{Notifier: d.Notifier, Status: d.Status, Attempts: d.Attempts, Error: d.Error,
			QueuedAt: d.QueuedAt, UpdatedAt: d.UpdatedAt}
		seq, err := strconv.ParseInt(d.Key, 10, 64)
		if e := bySeq[seq]; err == nil && e != nil {
			r.Event, r.Subject = e.Type, subject(e.StepID, e.Data["phase"])
		} else {
			var q queued
			if json.Unmarshal(d.Payload, &q) == nil {
				r.Event, r.Subject = q.Type, subject(q.StepID, q.Phase)
			}
		}
		if r.Event == "" {
			r.Event = "event " + d.Key
		}
		out = append(out, r)
	}
	// Each notifier's rows together (notifiers in the order they were
	// first told), each in the order queued.
	first := map[string]int{}
	for i, d := range out {
		if _, ok := first[d.Notifier]; !ok {
			first[d.Notifier] = i
		}
	}
	slices.SortStableFunc(out, func(a, b Delivery) int { return cmp.Compare(first[a.Notifier], first[b.Notifier]) })
	return out
}

// subject is a step, else a phase.
func subject(step, phase string) string {
	if step != "" {
		return step
	}
	return phase
}
