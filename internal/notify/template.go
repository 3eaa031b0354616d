package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// Template is a message template of a runbook's notify section: Go
// text/template over Data ({{ .Runbook }}, {{ .PhaseName }}, {{ .Elapsed }},
// {{ .Params.ticket }}…). It is checked when the runbook loads: a template
// that does not parse or names a field Data lacks is refused there.
type Template struct {
	src string
	t   *template.Template
}

// ParseTemplate parses src and executes it once on sample data, so that an
// unknown field is an error now rather than at 3 a.m.
func ParseTemplate(src string) (*Template, error) {
	t, err := template.New("message").Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template does not parse: %s", strings.TrimPrefix(err.Error(), "template: message:"))
	}
	tt := &Template{src: src, t: t}
	if _, err := tt.Render(sampleData); err != nil {
		return nil, err
	}
	return tt, nil
}

// MustTemplate is ParseTemplate for templates written in the code.
func MustTemplate(src string) *Template {
	t, err := ParseTemplate(src)
	if err != nil {
		panic("notify: " + err.Error())
	}
	return t
}

// Render executes the template.
func (t *Template) Render(d Data) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("template: %s", strings.TrimPrefix(err.Error(), "template: message:"))
	}
	return strings.TrimSpace(b.String()), nil
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// MarshalJSON is the source, for the plan hash.
func (t *Template) MarshalJSON() ([]byte, error) { return json.Marshal(t.src) }

// Data is what a message template sees.
type Data struct {
	// Run is the run's ID; Runbook its runbook's name.
	Run, Runbook string
	// Milestone is the notification's milestone (started, phase_done, …).
	Milestone string
	// Phase and Step are the event's phase and step IDs; PhaseName and
	// StepName their names.
	Phase, PhaseName, Step, StepName string
	// Summary and Error are the event's (scrubbed of secrets).
	Summary, Error string
	// Requester asked for the run, with Reason.
	Requester, Reason string
	// Params are the run's parameters.
	Params map[string]string
	// Elapsed is the run's elapsed time and Expected the runbook's
	// expected duration ("" when it gives none), formatted for people.
	Elapsed, Expected string
}

var sampleData = Data{Run: "r-sample", Runbook: "sample", Milestone: string(Started), Phase: "phase",
	PhaseName: "Phase", Step: "step", StepName: "Step", Summary: "summary", Error: "error", Requester: "U1",
	Reason: "reason", Params: map[string]string{}, Elapsed: "1m", Expected: "2m"}

// DataOf is the template data of a notification.
func DataOf(n *Notification) Data {
	d := Data{Run: n.Run.ID, Runbook: n.Run.Runbook, Milestone: string(n.Milestone), Phase: n.Event.Phase,
		PhaseName: n.Run.PhaseName, Step: n.Event.StepID, StepName: n.Run.StepName, Summary: n.Event.Summary,
		Error: n.Event.Error, Requester: n.Run.Requester, Reason: n.Run.Reason, Params: n.Run.Params,
		Elapsed: Duration(n.Elapsed())}
	if d.Params == nil {
		d.Params = map[string]string{}
	}
	if d.PhaseName == "" {
		d.PhaseName = d.Phase
	}
	if d.StepName == "" {
		d.StepName = d.Step
	}
	if n.Run.Expected > 0 {
		d.Expected = Duration(n.Run.Expected)
	}
	return d
}

// Duration formats a duration for people: to the second, without zero
// units at its end ("2m", "1m5s", "1h").
func Duration(d time.Duration) string {
	if d < time.Second {
		return chat.FormatDuration(d, time.Second)
	}
	s := d.Round(time.Second).String()
	for _, z := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, z) {
			s = strings.TrimSuffix(s, z[1:])
		}
	}
	return s
}

// Elapsed is the run's elapsed time at the notification's event.
func (n *Notification) Elapsed() time.Duration {
	if n.Event.Elapsed > 0 {
		return n.Event.Elapsed
	}
	if !n.Run.StartedAt.IsZero() && !n.Event.At.IsZero() && n.Event.At.After(n.Run.StartedAt) {
		return n.Event.At.Sub(n.Run.StartedAt)
	}
	return 0
}

// Messages are a notifier's templates by milestone key (a milestone name,
// or the ID of a phase or step whose completion it announces).
type Messages map[string]*Template

// ParseMessages parses every template of m; errors name the key.
func ParseMessages(m map[string]string) (Messages, map[string]error) {
	out := Messages{}
	var errs map[string]error
	for k, src := range m {
		t, err := ParseTemplate(src)
		if err != nil {
			if errs == nil {
				errs = map[string]error{}
			}
			errs[k] = err
			continue
		}
		out[k] = t
	}
	return out, errs
}

// For returns the template for n (its most specific key first), or nil.
func (m Messages) For(n *Notification) *Template {
	for _, k := range n.Keys() {
		if t := m[k]; t != nil {
			return t
		}
	}
	return nil
}

// Render renders the template for n, or def when there is none.
func (m Messages) Render(n *Notification, def *Template) (string, error) {
	t := m.For(n)
	if t == nil {
		t = def
	}
	if t == nil {
		return "", nil
	}
	return t.Render(DataOf(n))
}
