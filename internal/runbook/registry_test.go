package runbook

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Small fake kinds, so that these tests depend on no real step package.

type scaleConfig struct {
	Name     string            `yaml:"name"`
	Replicas int               `yaml:"replicas"`
	Selector map[string]string `yaml:"selector"`
	Target   struct {
		Namespace string `yaml:"namespace"`
	} `yaml:"target"`
	Ports []struct {
		Port int `yaml:"port"`
	} `yaml:"ports"`
}

func (c *scaleConfig) CheckAndSetDefaults() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, steps.FieldErrorf("name", "is required"))
	}
	if c.Replicas < 0 {
		errs = append(errs, steps.FieldErrorf("replicas", "must be ≥ 0"))
	}
	for i, p := range c.Ports {
		if p.Port <= 0 {
			errs = append(errs, steps.FieldErrorf(fmt.Sprintf("ports[%d].port", i), "must be > 0"))
		}
	}
	return errors.Join(errs...)
}

type checkConfig struct {
	URL    string `yaml:"url"`
	Expect string `yaml:"expect"`
}

func (c *checkConfig) CheckAndSetDefaults() error {
	if c.Expect != "" && c.Expect != "up" && c.Expect != "down" && !steps.IsTemplate(c.Expect) {
		return steps.FieldErrorf("expect", "must be up or down, not %q", c.Expect)
	}
	return nil
}

type promoteConfig struct {
	Wait bool   `yaml:"wait"`
	Note string `yaml:"note"`
}

func (c *promoteConfig) CheckAndSetDefaults() error { return nil }

// commonOptions is embedded inline, as kinds share fields that way.
type commonOptions struct {
	CallTimeout string `yaml:"callTimeout"`
}

// quantity decodes itself from any YAML: the loader must not look inside.
type quantity struct{ raw any }

func (q *quantity) UnmarshalYAML(n *yaml.Node) error { return n.Decode(&q.raw) }

type inlineConfig struct {
	commonOptions `yaml:",inline"`
	Size          quantity          `yaml:"size"`
	Labels        map[string]string `yaml:"labels"`
	Enabled       bool              `yaml:"enabled"`
}

func (c *inlineConfig) CheckAndSetDefaults() error { return nil }

// unitsConfig has fields with units, for the wording of type errors.
type unitsConfig struct {
	Threshold *float64       `yaml:"threshold" unit:"seconds"`
	Hold      string         `yaml:"hold" unit:"duration"`
	Values    []string       `yaml:"values"`
	Weights   map[string]int `yaml:"weights" unit:"percent"`
	Note      string         `yaml:"note"`
}

func (c *unitsConfig) CheckAndSetDefaults() error { return nil }

// fakeStep records the config and connection it was built with.
type fakeStep struct {
	cfg  steps.Config
	conn *steps.Connection
}

func (f *fakeStep) Check(context.Context) (steps.Result, error) { return steps.Result{Done: true}, nil }
func (f *fakeStep) Apply(context.Context) error                 { return nil }

func newFake[C any, P interface {
	*C
	steps.Config
}](_ context.Context, cfg P, env steps.Env) (steps.Step, error) {
	return &fakeStep{cfg: cfg, conn: env.Conn}, nil
}

// newFakeProbe is newFake for read-only kinds (the fake keeps its Apply:
// the executor must not call it because the kind is read-only).
func newFakeProbe[C any, P interface {
	*C
	steps.Config
}](ctx context.Context, cfg P, env steps.Env) (steps.Probe, error) {
	return newFake[C](ctx, cfg, env)
}

// testRegistry declares:
//   - test.scale: kubernetes connection, changes things
//   - test.check: read-only, no connection, output "hostname"
//   - test.promote: postgres connection, output "timeline"; its build fails
//     with the connection's dsn in the message (to test scrubbing)
//   - test.future: declared, not implemented
//   - test.units: read-only, fields with units
func testRegistry(t testing.TB) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry()
	err := errors.Join(
		r.RegisterConnection(
			steps.ConnectionType{Name: "postgres", Required: []string{"dsn"}},
			steps.ConnectionType{Name: "kubernetes", Optional: []string{"kubeconfig", "context"}},
			steps.ConnectionType{Name: "aws", Required: []string{"region"}, Optional: []string{"profile"}},
		),
		r.Register(
			steps.StepKind(steps.Spec{Name: "test.scale", Connection: "kubernetes"}, newFake[scaleConfig]),
			steps.ProbeKind(steps.Spec{Name: "test.check", Outputs: []string{"hostname"}}, newFakeProbe[checkConfig]),
			steps.StepKind(steps.Spec{Name: "test.promote", Connection: "postgres", Outputs: []string{"timeline"}},
				func(_ context.Context, _ *promoteConfig, env steps.Env) (steps.Step, error) {
					return nil, fmt.Errorf("connect to %s: connection refused", env.Conn.Fields["dsn"])
				}),
			steps.DeclaredStep[promoteConfig](steps.Spec{Name: "test.future"}),
			steps.ProbeKind(steps.Spec{Name: "test.inline"}, newFakeProbe[inlineConfig]),
			steps.ProbeKind(steps.Spec{Name: "test.logs"},
				func(ctx context.Context, cfg *promoteConfig, env steps.Env) (steps.Probe, error) {
					env.Logger.InfoContext(ctx, "building")
					return newFakeProbe(ctx, cfg, env)
				}),
			steps.StepKind(steps.Spec{Name: "test.awsthing", Connection: "aws"}, newFake[promoteConfig]),
			steps.ProbeKind(steps.Spec{Name: "test.units"}, newFakeProbe[unitsConfig]),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
