package steps_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

type talkative struct{}

func (talkative) Check(context.Context) (steps.Result, error) {
	return steps.Result{Summary: "conninfo password=hunter22x", Outputs: map[string]string{"value": "user=a password=hunter22x"}},
		steps.Permanentf("auth hunter22x refused")
}

type talkativeStep struct{ talkative }

func (talkativeStep) Apply(context.Context) error { return errors.New("apply with hunter22x") }
func (talkativeStep) Close() error                { return errors.New("close hunter22x") }

func TestScrubbedHidesWhatAKindSays(t *testing.T) {
	red := &secret.Redactor{}
	red.Add("postgres://u:hunter22x@db/x") // the DSN teaches its password
	p := steps.Scrubbed(talkative{}, red)
	if _, ok := p.(steps.Step); ok {
		t.Fatal("a probe became a step")
	}
	res, err := p.Check(context.Background())
	all := res.Summary + err.Error()
	if strings.Contains(all, "hunter22x") || !steps.IsPermanent(err) {
		t.Fatalf("Check: %q (permanent %v)", all, steps.IsPermanent(err))
	}
	// Outputs go on as given: a later step may need the value; the
	// executor scrubs them before they are stored or shown.
	if res.Outputs["value"] != "user=a password=hunter22x" {
		t.Errorf("outputs = %v, want them as the kind gave them", res.Outputs)
	}
	st, ok := steps.Scrubbed(talkativeStep{}, red).(steps.Step)
	if !ok {
		t.Fatal("a step lost its Apply")
	}
	if err := st.Apply(context.Background()); strings.Contains(err.Error(), "hunter22x") {
		t.Fatalf("Apply: %v", err)
	}
	if err := st.(steps.Closer).Close(); strings.Contains(err.Error(), "hunter22x") {
		t.Fatalf("Close: %v", err)
	}
}
