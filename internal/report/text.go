package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// clock formats an instant of the timeline.
func clock(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("15:04:05.00Z")
}

// Text renders the timeline for a terminal or a chat code block.
func (t *Timeline) Text() string {
	var b strings.Builder
	r := t.Run
	fmt.Fprintf(&b, "Run %s of %s: %s", r.ID, r.Runbook, r.State)
	if r.StateReason != "" {
		fmt.Fprintf(&b, " (%s)", r.StateReason)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Requested by %s at %s", r.Requester, r.CreatedAt.UTC().Format("2006-01-02 15:04:05Z"))
	if r.Reason != "" {
		fmt.Fprintf(&b, ": %s", r.Reason)
	}
	b.WriteString("\n")
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			ps = append(ps, k+"="+r.Params[k])
		}
		fmt.Fprintf(&b, "Params: %s\n", strings.Join(ps, " "))
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
	if len(t.Steps) > 0 {
		b.WriteString("\nSteps:\n")
		fmt.Fprintf(&b, "  %-24s %-9s %-13s %-13s %9s %4s  %s\n", "STEP", "OUTCOME", "START", "END", "DURATION", "TRY", "SUMMARY")
		for _, s := range t.Steps {
			outcome := string(s.Status)
			if s.AlreadyDone {
				outcome = "was done"
			}
			summary := s.Summary
			if s.Error != "" {
				summary = "error: " + s.Error
			}
			fmt.Fprintf(&b, "  %-24s %-9s %-13s %-13s %9s %4d  %s\n", s.ID, outcome, clock(s.Start), clock(s.End), Dur(s.Duration()), s.Attempts, oneLine(summary))
		}
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
	if len(t.Events) > 0 {
		b.WriteString("\nAudit trail:\n")
		for _, e := range t.Events {
			fmt.Fprintf(&b, "  %s  %-8s %-20s %s\n", clock(e.At), e.Actor, e.Type, oneLine(e.Message))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func capital(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
