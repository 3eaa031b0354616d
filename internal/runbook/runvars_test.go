package runbook

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// runbookWith is a runbook whose one step (test.units) has note: tmpl.
func runbookWith(t *testing.T, tmpl string) *Runbook {
	t.Helper()
	src := "name: t\nphases:\n- id: p\n  steps:\n  - id: a\n    kind: test.units\n    with:\n      note: '" + tmpl + "'\n"
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

func noteOf(t *testing.T, rb *Runbook, vars Vars) (string, error) {
	t.Helper()
	st, err := rb.Step("a").Build(context.Background(), vars)
	if err != nil {
		return "", err
	}
	return steps.Unwrap(st).(*fakeStep).cfg.(*unitsConfig).Note, nil
}

func TestTemplatesSeeTheRun(t *testing.T) {
	started := time.Date(2025, 3, 9, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	run := &RunInfo{ID: "lab-failover-k3x9", Requester: "U1", StartedAt: started, Approvers: []string{"U2", "U3"}}
	now := time.Date(2025, 3, 9, 2, 10, 0, 0, time.UTC)
	tests := []struct {
		name, tmpl, want string
	}{
		{"the run id", "{{ .run.id }}", "lab-failover-k3x9"},
		{"the requester", "{{ .run.requester }}", "U1"},
		{"the start in RFC 3339 UTC", "{{ .run.startedAt }}", "2025-03-09T02:04:05Z"},
		{"the approvers comma-separated", "{{ .run.approvers }}", "U2,U3"},
		{"the approvers joined", `{{ .run.approvers | join ", " }}`, "U2, U3"},
		{"the approvers ranged over", "{{ range .run.approvers }}<{{ . }}>{{ end }}", "<U2><U3>"},
		{"the number of approvers", "{{ len .run.approvers }}", "2"},
		{"now in RFC 3339 UTC", "restartedAt={{ now }}", "restartedAt=2025-03-09T02:10:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := noteOf(t, runbookWith(t, tt.tmpl), Vars{Run: run, Now: now})
			if err != nil || got != tt.want {
				t.Errorf("%s = %q, %v; want %q", tt.tmpl, got, err, tt.want)
			}
		})
	}
}

func TestNowDefaultsToTheClockOncePerBuild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rb := runbookWith(t, "{{ now }}")
		time.Sleep(90 * time.Minute) // the bubble's clock starts at 2000-01-01 00:00 UTC
		got, err := noteOf(t, rb, Vars{})
		if want := "2000-01-01T01:30:00Z"; err != nil || got != want {
			t.Errorf("now = %q, %v; want %q", got, err, want)
		}
	})
}

func TestTheRunsValuesAreUnknownInADryRun(t *testing.T) {
	rb := runbookWith(t, "by {{ .run.requester }} at {{ now }}")
	_, err := noteOf(t, rb, Vars{}) // no Run: a plan
	want := "build step a (test.units): with.note: .run.requester: not known until the run starts"
	if err == nil || err.Error() != want || !errors.Is(err, ErrRunNotStarted) {
		t.Errorf("err = %v, want %q wrapping ErrRunNotStarted", err, want)
	}
	// The plan hash covers the template as written, never its values.
	if h := rb.PlanHash(nil); h != rb.Hash || h != runbookWith(t, "by {{ .run.requester }} at {{ now }}").Hash {
		t.Errorf("plan hash not stable: %s vs %s", h, rb.Hash)
	}
}

func TestTemplateErrorsAtRunTimeNameTheExpression(t *testing.T) {
	rb := runbookWith(t, "{{ index .run.approvers 5 }}")
	_, err := noteOf(t, rb, Vars{Run: &RunInfo{Approvers: []string{"U2"}}})
	want := "build step a (test.units): with.note: index .run.approvers 5: error calling index: index out of range: 5"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}
