package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/store"
)

// clock formats an instant of the timeline.
func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04:05.00Z")
}

// fence opens and closes a code block (Markdown and Slack mrkdwn alike).
const fence = "```"

// ReportFile and ChartFile name a run's report and chart as files.
func ReportFile(runID string) string { return runID + "-report.md" }

// ChartFile names a run's timeline chart as a file.
func ChartFile(runID string) string { return runID + "-timeline.png" }

// Markdown is the whole timeline as one document: facts as list items,
// every table in a code block so that its columns line up (in Slack too).
// Nothing in it is shortened; it is what a chat posts whole, or uploads as
// a file.
func (t *Timeline) Markdown() string {
	return t.render(true)
}

// Text is the timeline for a terminal: Markdown without the code fences.
func (t *Timeline) Text() string {
	return t.render(false)
}

// Document is the timeline as a chat document (see chat.DocumentView).
func (t *Timeline) Document() *chat.DocumentView {
	return &chat.DocumentView{Title: fmt.Sprintf("Report of run %s (%s)", t.Run.ID, t.Run.Runbook),
		Filename: ReportFile(t.Run.ID), Markdown: t.Markdown()}
}

// Outcome says in a line how the run ended: "succeeded in 1m2s (RTO 58s,
// RPO 0.3s)".
func (t *Timeline) Outcome() string {
	r := t.Run
	s := string(r.State)
	if !r.StartedAt.IsZero() && !r.EndedAt.IsZero() {
		s += " in " + Dur(r.EndedAt.Sub(r.StartedAt))
	}
	var m []string
	if t.RTOMeasured {
		m = append(m, "RTO "+Dur(t.RTO))
	}
	if t.RPO != "" {
		m = append(m, "RPO "+t.RPO)
	}
	if len(m) > 0 {
		s += " (" + strings.Join(m, ", ") + ")"
	}
	return s
}

func (t *Timeline) render(fences bool) string {
	var b strings.Builder
	r := t.Run
	fmt.Fprintf(&b, "Run %s of %s: %s", r.ID, r.Runbook, r.State)
	if r.StateReason != "" {
		fmt.Fprintf(&b, " (%s)", oneLine(r.StateReason))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(&b, "- Requested by %s at %s", r.Requester, r.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", oneLine(r.Reason))
	}
	b.WriteString("\n")
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			ps = append(ps, k+"="+r.Params[k])
		}
		fmt.Fprintf(&b, "- Params: %s\n", oneLine(strings.Join(ps, " ")))
	}
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(&b, "- Started %s", clock(r.StartedAt))
		if !r.EndedAt.IsZero() {
			fmt.Fprintf(&b, ", ended %s (%s)", clock(r.EndedAt), Dur(r.EndedAt.Sub(r.StartedAt)))
		}
		b.WriteString("\n")
	}
	if t.RTOMeasured {
		fmt.Fprintf(&b, "- RTO (run start → last step done): %s\n", Dur(t.RTO))
	} else {
		fmt.Fprintf(&b, "- RTO: not measured (the run is %s)\n", r.State)
	}
	if t.RPO != "" {
		fmt.Fprintf(&b, "- RPO (replication lag at promotion, step %s): %s\n", t.RPOStep, oneLine(t.RPO))
	} else {
		b.WriteString("- RPO: unknown (no step measured the replication lag)\n")
	}
	t.writeApprovals(&b, fences)
	t.writeAssessment(&b, fences)
	t.writePhases(&b, fences)
	t.writeSteps(&b, fences)
	t.writeDeliveries(&b, fences)
	if len(t.Events) > 0 {
		b.WriteString("\nAudit trail (requests, decisions, gates, operator commands, refusals):\n")
		tb := newTable("AT", "ACTOR", "EVENT", "MESSAGE")
		for _, e := range t.Events {
			ev := e.Type
			if e.StepID != "" {
				ev += " " + e.StepID
			}
			tb.add(clock(e.At), e.Actor, ev, e.Message)
		}
		tb.write(&b, fences)
	}
	return strings.TrimRight(b.String(), "\n")
}

func (t *Timeline) writeApprovals(b *strings.Builder, fences bool) {
	b.WriteString("\nApprovals:\n")
	if len(t.Approvals) == 0 {
		b.WriteString("- none recorded\n")
		return
	}
	// When each gate asked: its latest gate.waiting before the decision.
	var asks []*store.AuditEvent
	for _, e := range t.Events {
		if e.Type == "gate.waiting" {
			asks = append(asks, e)
		}
	}
	tb := newTable("AT", "WHO", "DECISION", "ON", "VIA", "AFTER")
	for _, a := range t.Approvals {
		on, after := "the start request", Dur(a.At.Sub(t.Run.CreatedAt))+" after the request"
		if a.Gate != "" {
			on, after = "gate "+a.Gate, "—"
			for _, e := range asks {
				if e.StepID == a.Gate && !e.At.After(a.At) {
					after = Dur(a.At.Sub(e.At)) + " after the gate asked"
				}
			}
		}
		decision := string(a.Decision)
		if a.PlanHash != t.Run.PlanHash {
			decision += " (another plan: not counted)"
		}
		tb.add(clock(a.At), a.User, decision, on, cmp.Or(a.Via, "—"), after)
	}
	tb.write(b, fences)
}

func (t *Timeline) writeAssessment(b *strings.Builder, fences bool) {
	a := t.Assessment
	switch {
	case a == nil:
		b.WriteString("\nAssessment: not recorded (the run's request carries no assessment)\n")
		return
	case len(a.View.Checks) == 0:
		fmt.Fprintf(b, "\nAssessment: none (the runbook has no assessment checks; plan recorded %s)\n", clock(a.At))
		return
	}
	verdict, ok := "NO-GO", 0
	if a.View.Go {
		verdict = "GO"
	}
	for _, c := range a.View.Checks {
		if c.OK {
			ok++
		}
	}
	fmt.Fprintf(b, "\nAssessment (with the plan, %s): %s, %d of %d checks passed in %s\n",
		clock(a.At), verdict, ok, len(a.View.Checks), Dur(a.View.Took))
	{
		tb := newTable("CHECK", "RESULT", "TOOK", "SUMMARY").alignRight(2)
		for _, c := range a.View.Checks {
			res, sum := "ok", c.Summary
			switch {
			case c.NotRun:
				res, sum = "not run", c.Error
			case !c.OK:
				res = "failed"
				if c.Error != "" {
					sum = "error: " + c.Error
				}
			}
			tb.add(c.ID, res, Dur(c.Duration), sum)
		}
		tb.write(b, fences)
	}
	if a.ExpectedDataLoss != "" {
		fmt.Fprintf(b, "- Expected data loss at planning (replication lag): %s\n", oneLine(a.ExpectedDataLoss))
	}
}

func (t *Timeline) writePhases(b *strings.Builder, fences bool) {
	if len(t.Phases) == 0 {
		return
	}
	b.WriteString("\nPhases:\n")
	tb := newTable("PHASE", "RESULT", "START", "END", "DURATION", "STEPS", "NAME").alignRight(4, 5)
	for _, p := range t.Phases {
		tb.add(p.ID, p.Status, clock(p.Start), clock(p.End), Dur(Span{p.Start, p.End}.Duration()), strconv.Itoa(p.Steps), p.Name)
	}
	tb.write(b, fences)
}

func (t *Timeline) writeSteps(b *strings.Builder, fences bool) {
	if len(t.Steps) == 0 {
		b.WriteString("\nSteps: none ran\n")
		return
	}
	b.WriteString("\nSteps:\n")
	tb := newTable("STEP", "PHASE", "OUTCOME", "START", "END", "DURATION", "WAIT", "RETRIES", "TRY", "SUMMARY").alignRight(5, 6, 7, 8)
	for _, s := range t.Steps {
		outcome := string(s.Status)
		if s.AlreadyDone && s.Status == store.StepDone && !s.Gate {
			outcome = "already done"
		}
		summary := s.Summary
		if s.Error != "" {
			summary = "error: " + s.Error
		}
		wait := "—"
		if !s.Wait.IsZero() {
			wait = Dur(s.Wait.Duration())
		}
		tb.add(s.ID, cmp.Or(s.Phase, "—"), outcome, clock(s.Start), clock(s.End), Dur(s.Duration()), wait,
			strconv.Itoa(len(s.Retries)), strconv.Itoa(s.Attempts), summary)
	}
	tb.write(b, fences)
}

func (t *Timeline) writeDeliveries(b *strings.Builder, fences bool) {
	switch {
	case !t.DeliveriesKnown:
		b.WriteString("\nNotifications: not known (no delivery log was read)\n")
		return
	case len(t.Deliveries) == 0:
		b.WriteString("\nNotifications: none were sent for this run\n")
		return
	}
	counts := map[store.DeliveryStatus]int{}
	for _, d := range t.Deliveries {
		counts[d.Status]++
	}
	fmt.Fprintf(b, "\nNotifications (%d delivered, %d failed, %d still queued):\n",
		counts[store.DeliveryDelivered], counts[store.DeliveryFailed], counts[store.DeliveryQueued])
	tb := newTable("NOTIFIER", "EVENT", "STATUS", "TRY", "QUEUED", "SETTLED", "LAST ERROR").alignRight(3)
	for _, d := range t.Deliveries {
		ev := d.Event
		if d.Subject != "" {
			ev += " " + d.Subject
		}
		settled := "—"
		if d.Status != store.DeliveryQueued {
			settled = clock(d.UpdatedAt)
		}
		tb.add(d.Notifier, ev, string(d.Status), strconv.Itoa(d.Attempts), clock(d.QueuedAt), settled, cmp.Or(d.Error, "—"))
	}
	tb.write(b, fences)
}

// oneLine keeps a value on its line of the report (and a ``` in it from
// closing a code block). It never shortens it: the report is whole.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	return strings.ReplaceAll(s, fence, "`\u200b``")
}
