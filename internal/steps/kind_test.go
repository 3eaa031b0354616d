package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// portConfig is a config whose CheckAndSetDefaults fills a default.
type portConfig struct {
	Port int `yaml:"port"`
}

func (c *portConfig) CheckAndSetDefaults() error {
	if c.Port == 0 {
		c.Port = 80
	}
	if c.Port < 0 {
		return FieldErrorf("port", "must be > 0, got %d", c.Port)
	}
	return nil
}

var _ Config = (*portConfig)(nil)

// probe only observes; change also applies.
type probe struct{ port int }

func (p *probe) Check(context.Context) (Result, error) { return Result{Done: p.port == 80}, nil }

type change struct{ probe }

func (*change) Apply(context.Context) error { return nil }

var (
	_ Probe = (*probe)(nil)
	_ Step  = (*change)(nil)
)

func TestProbeKindIsReadOnlyAndBuildsFromItsOwnConfigType(t *testing.T) {
	k := ProbeKind(Spec{Name: "test.probe", Doc: "d", Connection: "c", Outputs: []string{"x"}},
		func(_ context.Context, cfg *portConfig, _ Env) (Probe, error) { return &probe{port: cfg.Port}, nil })
	if k.Name() != "test.probe" || k.Doc() != "d" || k.Connection() != "c" || !slices.Equal(k.Outputs(), []string{"x"}) {
		t.Errorf("spec not kept: %s %q %q %v", k.Name(), k.Doc(), k.Connection(), k.Outputs())
	}
	if !k.ReadOnly() || !k.Implemented() {
		t.Errorf("ProbeKind: ReadOnly %v, Implemented %v; want both true", k.ReadOnly(), k.Implemented())
	}
	cfg := k.NewConfig()
	if got := fmt.Sprintf("%T", cfg); got != "*steps.portConfig" {
		t.Fatalf("NewConfig = %s, want *steps.portConfig", got)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	p, err := k.Build(context.Background(), cfg, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := p.Check(context.Background()); !res.Done {
		t.Error("the probe did not get the config with its default filled")
	}
	if _, isStep := p.(Step); isStep {
		t.Error("a probe built by ProbeKind has an Apply")
	}
	k.Outputs()[0] = "changed"
	if k.Outputs()[0] != "x" {
		t.Error("Outputs() exposes the kind's own slice")
	}
}

func TestStepKindBuildsAStepThatChanges(t *testing.T) {
	k := StepKind(Spec{Name: "test.change"},
		func(_ context.Context, cfg *portConfig, _ Env) (Step, error) { return &change{probe{cfg.Port}}, nil })
	if k.ReadOnly() || !k.Implemented() {
		t.Errorf("StepKind: ReadOnly %v, Implemented %v; want false, true", k.ReadOnly(), k.Implemented())
	}
	p, err := k.Build(context.Background(), &portConfig{Port: 80}, Env{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(Step); !ok {
		t.Errorf("StepKind built a %T, not a Step", p)
	}
	failing := StepKind(Spec{Name: "test.fails"},
		func(context.Context, *portConfig, Env) (Step, error) { return nil, errors.New("no such server") })
	if p, err := failing.Build(context.Background(), &portConfig{}, Env{}); p != nil || err == nil {
		t.Errorf("a failing build = %v, %v; want a nil Probe and the error", p, err)
	}
}

func TestBuildRefusesAnotherKindsConfig(t *testing.T) {
	k := StepKind(Spec{Name: "test.change"},
		func(context.Context, *portConfig, Env) (Step, error) { return &change{}, nil })
	_, err := k.Build(context.Background(), &noConfig{}, Env{})
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "config is *steps.noConfig, want *steps.portConfig") {
		t.Errorf("Build with a config of another type = %v, want a permanent error naming both types", err)
	}
}

func TestDeclaredKindsValidateButDoNotBuild(t *testing.T) {
	for _, k := range []Kind{DeclaredProbe[portConfig](Spec{Name: "test.later"}), DeclaredStep[portConfig](Spec{Name: "test.later"})} {
		if k.Implemented() {
			t.Errorf("declared kind (read-only %v) reports Implemented", k.ReadOnly())
		}
		if got := fmt.Sprintf("%T", k.NewConfig()); got != "*steps.portConfig" {
			t.Errorf("declared kind's NewConfig = %s, want *steps.portConfig", got)
		}
		_, err := k.Build(context.Background(), k.NewConfig(), Env{})
		if err == nil || err.Error() != "step kind test.later is declared but not implemented yet" {
			t.Errorf("Build of a declared kind = %v", err)
		}
	}
	if !DeclaredProbe[portConfig](Spec{Name: "p"}).ReadOnly() || DeclaredStep[portConfig](Spec{Name: "s"}).ReadOnly() {
		t.Error("DeclaredProbe must be read-only and DeclaredStep not")
	}
}
