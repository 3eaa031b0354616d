package report

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/report/chart"
	"github.com/failoverbot/failoverbot/internal/store"
)

// ErrNotStarted: a run that never started has no timeline to draw.
var ErrNotStarted = errors.New("the run has not started: there is no timeline to draw")

// Chart is the timeline as the chart draws it. It is the one place a
// report.Timeline becomes a chart.Timeline, so that the picture and the
// Markdown show the same steps, times, waits, retries and approvals.
func (t *Timeline) Chart() chart.Timeline {
	r := t.Run
	ct := chart.Timeline{Title: fmt.Sprintf("%s · run %s · %s", r.Runbook, r.ID, r.State), Start: r.StartedAt, End: r.EndedAt}
	for _, s := range t.Steps {
		start := s.Start
		if start.IsZero() {
			start = s.End // a step skipped before it started is an instant
		}
		if start.IsZero() {
			continue // never started: in the Markdown, not on the time axis
		}
		cs := chart.Step{Name: cmp.Or(s.Name, s.ID), Phase: s.Phase, Start: start, End: s.End,
			Outcome: outcomeOf(s), Attempts: s.Attempts}
		if cs.Outcome == chart.Running {
			cs.End = time.Time{}
		}
		if !s.Wait.IsZero() {
			cs.Wait = chart.Interval{Start: s.Wait.Start, End: s.Wait.End}
		}
		for _, rt := range s.Retries {
			cs.Retries = append(cs.Retries, chart.Interval{Start: rt.Start, End: rt.End})
		}
		ct.Steps = append(ct.Steps, cs)
	}
	ct.Markers = t.markers()
	return ct
}

// outcomeOf is a step's bar colour.
func outcomeOf(s Step) chart.Outcome {
	switch s.Status {
	case store.StepDone:
		if s.AlreadyDone && !s.Gate { // a gate applies nothing: its approval is its change
			return chart.AlreadyDone
		}
		return chart.Done
	case store.StepFailed:
		return chart.Failed
	case store.StepSkipped:
		return chart.Skipped
	case store.StepReplaced:
		return chart.Replaced
	}
	return chart.Running
}

// markers: each counted approval of the start request, each approval of a
// gate, and each gate rejected or expired.
func (t *Timeline) markers() []chart.Marker {
	var ms []chart.Marker
	for _, a := range t.Approvals {
		if a.Decision != store.Approve || a.PlanHash != t.Run.PlanHash {
			continue
		}
		if a.Gate == "" {
			ms = append(ms, chart.Marker{Kind: chart.Approval, At: a.At, Who: a.User})
		} else {
			ms = append(ms, chart.Marker{Kind: chart.Gate, At: a.At, Who: a.User, Label: fmt.Sprintf("gate %s (%s)", a.Gate, a.User)})
		}
	}
	for _, e := range t.Events {
		switch e.Type {
		case "gate.rejected", "gate.expired":
			ms = append(ms, chart.Marker{Kind: chart.Gate, At: e.At, Who: e.Actor,
				Label: fmt.Sprintf("gate %s %s", e.StepID, strings.TrimPrefix(e.Type, "gate."))})
		}
	}
	return ms
}

// PNG draws the timeline chart.
func (t *Timeline) PNG() ([]byte, error) {
	if t.Run.StartedAt.IsZero() {
		return nil, fmt.Errorf("chart of run %s: %w", t.Run.ID, ErrNotStarted)
	}
	png, err := chart.Render(t.Chart(), chart.Options{})
	if err != nil {
		return nil, fmt.Errorf("chart of run %s: %w", t.Run.ID, err)
	}
	return png, nil
}

// Files are the report (Markdown) and, for a run that started, its chart
// (PNG), as a chat shares them; scrub is applied to every text (nil: none).
func (t *Timeline) Files(scrub func(string) string) ([]chat.File, error) {
	if scrub == nil {
		scrub = func(s string) string { return s }
	}
	id := t.Run.ID
	files := []chat.File{{Name: ReportFile(id), Title: scrub(fmt.Sprintf("Report of run %s (%s)", id, t.Run.Runbook)),
		Data: []byte(scrub(t.Markdown())), Comment: scrub(fmt.Sprintf("The report of run %s of %s: %s.", id, t.Run.Runbook, t.Outcome()))}}
	if t.Run.StartedAt.IsZero() {
		return files, nil
	}
	png, err := t.PNG()
	if err != nil {
		return files, err
	}
	return append(files, chat.File{Name: ChartFile(id), Title: scrub(fmt.Sprintf("Timeline of run %s", id)), Data: png,
		Comment: scrub(fmt.Sprintf("The timeline of run %s: one bar per step, waits and retries hatched, approvals and gates marked.", id))}), nil
}
