package report

import (
	"fmt"
	"maps"
	"slices"
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

// Markdown is the whole timeline as one document: facts as plain lines,
// the step table and the audit trail in code blocks so that their columns
// line up (in Slack too). Nothing in it is shortened; it is what a chat
// posts whole, or uploads as a file.
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
		Filename: "report-" + t.Run.ID + ".md", Markdown: t.Markdown()}
}

func (t *Timeline) render(fences bool) string {
	var b strings.Builder
	code := func() {
		if fences {
			b.WriteString(fence + "\n")
		}
	}
	r := t.Run
	fmt.Fprintf(&b, "Run %s of %s: %s", r.ID, r.Runbook, r.State)
	if r.StateReason != "" {
		fmt.Fprintf(&b, " (%s)", oneLine(r.StateReason))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Requested by %s at %s", r.Requester, r.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", oneLine(r.Reason))
	}
	b.WriteString("\n")
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			ps = append(ps, k+"="+r.Params[k])
		}
		fmt.Fprintf(&b, "Params: %s\n", oneLine(strings.Join(ps, " ")))
	}
	for _, a := range t.Approvals {
		verb := "approved"
		if a.Decision == store.Reject {
			verb = "rejected"
		}
		fmt.Fprintf(&b, "%s by %s at %s (%s after the request)\n", capital(verb), a.User, clock(a.At), Dur(a.At.Sub(r.CreatedAt)))
	}
	if !r.StartedAt.IsZero() {
		fmt.Fprintf(&b, "Started %s", clock(r.StartedAt))
		if !r.EndedAt.IsZero() {
			fmt.Fprintf(&b, ", ended %s (%s)", clock(r.EndedAt), Dur(r.EndedAt.Sub(r.StartedAt)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if t.RTOMeasured {
		fmt.Fprintf(&b, "RTO (run start → last step done): %s\n", Dur(t.RTO))
	} else {
		fmt.Fprintf(&b, "RTO: not measured (the run is %s)\n", r.State)
	}
	if t.RPO != "" {
		fmt.Fprintf(&b, "RPO (replication lag at promotion, step %s): %s\n", t.RPOStep, t.RPO)
	} else {
		b.WriteString("RPO: unknown (no step measured the replication lag)\n")
	}
	if len(t.Steps) > 0 {
		b.WriteString("\nSteps:\n")
		code()
		w := len("STEP")
		for _, s := range t.Steps {
			w = max(w, len(s.ID))
		}
		fmt.Fprintf(&b, "  %-*s  %-9s %-13s %-13s %9s %4s  %s\n", w, "STEP", "OUTCOME", "START", "END", "DURATION", "TRY", "SUMMARY")
		for _, s := range t.Steps {
			outcome := string(s.Status)
			if s.AlreadyDone {
				outcome = "was done"
			}
			summary := s.Summary
			if s.Error != "" {
				summary = "error: " + s.Error
			}
			fmt.Fprintf(&b, "  %-*s  %-9s %-13s %-13s %9s %4d  %s\n", w, s.ID, outcome, clock(s.Start), clock(s.End), Dur(s.Duration()), s.Attempts, oneLine(summary))
		}
		code()
	}
	if len(t.Events) > 0 {
		b.WriteString("\nAudit trail:\n")
		code()
		aw, tw := len("ACTOR"), len("EVENT")
		for _, e := range t.Events {
			aw, tw = max(aw, len(e.Actor)), max(tw, len(e.Type))
		}
		fmt.Fprintf(&b, "  %-12s  %-*s  %-*s  %s\n", "AT", aw, "ACTOR", tw, "EVENT", "MESSAGE")
		for _, e := range t.Events {
			fmt.Fprintf(&b, "  %-12s  %-*s  %-*s  %s\n", clock(e.At), aw, e.Actor, tw, e.Type, oneLine(e.Message))
		}
		code()
	}
	return strings.TrimRight(b.String(), "\n")
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// oneLine keeps a value on its line of the report (and a ``` in it from
// closing a code block). It never shortens it: the report is whole.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return strings.ReplaceAll(s, fence, "`\u200b``")
}
