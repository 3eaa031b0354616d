package runbook

import (
	"context"
	"errors"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
)

func TestStepBuildWithoutAFactoryFails(t *testing.T) {
	_, err := (&Step{ID: "promote"}).Build(context.Background(), Vars{})
	if !errors.Is(err, ErrNoFactory) || err.Error() != "step promote has no factory" {
		t.Errorf("Build without a factory = %v, want ErrNoFactory", err)
	}
}

// onlyCheck is a probe: it has no Apply.
type onlyCheck struct{}

func (onlyCheck) Check(context.Context) (steps.Result, error) { return steps.Result{}, nil }

func TestMayApplyNeedsAKindThatChangesAndAnApply(t *testing.T) {
	rb, _ := loadValid(t)
	vars := Vars{Params: map[string]string{"ticket": "INC-1"}, Outputs: map[string]map[string]string{"check_lag": {"hostname": "h"}}}
	scale := rb.Step("scale_up")
	inst, err := scale.Build(context.Background(), vars)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := scale.MayApply(inst); !ok || st == nil {
		t.Errorf("a step of a kind that changes, built with an Apply: MayApply = %v, %v; want it", st, ok)
	}
	if st, ok := scale.MayApply(onlyCheck{}); ok || st != nil {
		t.Errorf("an instance without Apply: MayApply = %v, %v; want false", st, ok)
	}
	// The fake instance of the read-only test.check kind has an Apply: the
	// kind's ReadOnly still forbids calling it.
	check := rb.Step("check_lag")
	if check == nil || !check.ReadOnly {
		t.Fatalf("check_lag = %+v, want a read-only step", check)
	}
	inst, err = check.Build(context.Background(), vars)
	if err != nil {
		t.Fatal(err)
	}
	if _, hasApply := inst.(steps.Step); !hasApply {
		t.Fatal("test.check's fake lost its Apply: this test would not test the ReadOnly rule")
	}
	if st, ok := check.MayApply(inst); ok || st != nil {
		t.Errorf("a read-only step: MayApply = %v, %v; want false", st, ok)
	}
}
