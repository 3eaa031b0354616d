// Package chart draws a run's timeline as a PNG, for the report posted at
// the end of a failover: one bar per step on a time axis, coloured by
// outcome, with the wait for Check after Apply and the backoff between
// retries shown as hatched segments, approvals and gates as markers, and a
// legend. It has its own small Timeline type, filled by whoever has the
// run's history (internal/report), so that it depends on nothing of the
// bot's. Drawing is gonum.org/v1/plot, whose fonts are embedded: the same
// timeline gives the same picture on every machine.
package chart

import (
	"fmt"
	"math"
	"time"
)

// Outcome is how a step ended.
type Outcome string

// The outcomes a step can have.
const (
	Done        Outcome = "done"
	AlreadyDone Outcome = "already-done"
	Failed      Outcome = "failed"
	Skipped     Outcome = "skipped"
	Replaced    Outcome = "replaced"
	// Running is a step that has not ended (its bar stops at the
	// timeline's End).
	Running Outcome = "running"
)

// Timeline is what the chart shows.
type Timeline struct {
	// Title is the chart's first line ("lab-failover · run r1 · succeeded").
	Title string
	// Start and End are the run's; End may be zero for a run still going
	// (the last step's end is used).
	Start, End time.Time
	Steps      []Step
	Markers    []Marker
}

// Step is one step's bar.
type Step struct {
	Name, Phase string
	Start, End  time.Time
	Outcome     Outcome
	// Attempts counts the Apply attempts (shown when more than one).
	Attempts int
	// Wait is the wait after Apply until Check said done.
	Wait Interval
	// Retries are the backoffs between attempts.
	Retries []Interval
}

// Interval is a span of time; the zero Interval is none.
type Interval struct{ Start, End time.Time }

// IsZero says the interval is unset.
func (i Interval) IsZero() bool { return i.Start.IsZero() && i.End.IsZero() }

// MarkerKind says what a marker marks.
type MarkerKind string

// The markers the chart draws.
const (
	Approval MarkerKind = "approval"
	Gate     MarkerKind = "gate"
)

// Marker is a moment: an approval of the plan, a gate passed mid-run.
type Marker struct {
	Kind MarkerKind
	At   time.Time
	// Who approved (shown next to the marker unless Label is set).
	Who   string
	Label string
}

func (m Marker) text() string {
	if m.Label != "" {
		return m.Label
	}
	return m.Who
}

// validate checks what would draw a wrong picture.
func (t *Timeline) validate() error {
	if t.Start.IsZero() {
		return fmt.Errorf("chart: the timeline has no start")
	}
	if !t.End.IsZero() && t.End.Before(t.Start) {
		return fmt.Errorf("chart: the timeline ends (%s) before it starts (%s)", t.End.Format(time.RFC3339), t.Start.Format(time.RFC3339))
	}
	for i, s := range t.Steps {
		name := s.Name
		if name == "" {
			return fmt.Errorf("chart: step %d has no name", i+1)
		}
		switch s.Outcome {
		case Done, AlreadyDone, Failed, Skipped, Replaced, Running:
		default:
			return fmt.Errorf("chart: step %q: outcome %q is not one of done, already-done, failed, skipped, replaced, running", name, s.Outcome)
		}
		if s.Start.IsZero() {
			return fmt.Errorf("chart: step %q has no start", name)
		}
		if !s.End.IsZero() && s.End.Before(s.Start) {
			return fmt.Errorf("chart: step %q ends before it starts", name)
		}
		for _, iv := range append([]Interval{s.Wait}, s.Retries...) {
			if iv.IsZero() {
				continue
			}
			if iv.Start.IsZero() || iv.End.IsZero() || iv.End.Before(iv.Start) {
				return fmt.Errorf("chart: step %q: an interval (wait or retry) needs a start before its end", name)
			}
		}
	}
	for _, m := range t.Markers {
		if m.Kind != Approval && m.Kind != Gate {
			return fmt.Errorf("chart: marker kind %q is not approval or gate", m.Kind)
		}
		if m.At.IsZero() {
			return fmt.Errorf("chart: %s marker %q has no time", m.Kind, m.text())
		}
	}
	return nil
}

// end is the timeline's end: End, else the latest step end or marker.
func (t *Timeline) end() time.Time {
	if !t.End.IsZero() {
		return t.End
	}
	e := t.Start
	for _, s := range t.Steps {
		if s.End.After(e) {
			e = s.End
		}
		if s.Start.After(e) {
			e = s.Start
		}
	}
	for _, m := range t.Markers {
		if m.At.After(e) {
			e = m.At
		}
	}
	return e
}

// formatDuration shows a duration for people: 850ms, 4.2s, 2m3s, 1h2m.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < 0:
		return "-" + formatDuration(-d)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return trimZero(fmt.Sprintf("%.1fs", d.Seconds()))
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", math.Round(d.Seconds()))
	case d < time.Hour:
		d = d.Round(time.Second)
		return trimTail(fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60), "m0s", "m")
	default:
		d = d.Round(time.Minute)
		return trimTail(fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60), "h0m", "h")
	}
}

func trimZero(s string) string { return trimTail(s, ".0s", "s") }

func trimTail(s, tail, repl string) string {
	if len(s) > len(tail) && s[len(s)-len(tail):] == tail {
		return s[:len(s)-len(tail)] + repl
	}
	return s
}
