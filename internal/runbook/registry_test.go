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

func (c *scaleConfig) Validate() error {
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

func (c *checkConfig) Validate() error {
	if c.Expect != "" && c.Expect != "up" && c.Expect != "down" && !steps.IsTemplate(c.Expect) {
		return steps.FieldErrorf("expect", "must be up or down, not %q", c.Expect)
	}
	return nil
}

type promoteConfig struct {
	Wait bool   `yaml:"wait"`
	Note string `yaml:"note"`
}

func (c *promoteConfig) Validate() error { return nil }

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

func (c *inlineConfig) Validate() error { return nil }

// fakeStep records the config and connection it was built with.
type fakeStep struct {
	cfg  steps.Config
	conn *steps.Connection
}

func (f *fakeStep) Check(context.Context) (steps.Result, error) { return steps.Result{Done: true}, nil }
func (f *fakeStep) Apply(context.Context) error                 { return nil }

func newFake(_ context.Context, cfg steps.Config, env steps.Env) (steps.Step, error) {
	return &fakeStep{cfg: cfg, conn: env.Conn}, nil
}

// testRegistry declares:
//   - test.scale: kubernetes connection, changes things
//   - test.check: read-only, no connection, output "hostname"
//   - test.promote: postgres connection, output "timeline"; its New fails
//     with the connection's dsn in the message (to test scrubbing)
//   - test.future: declared, not implemented (New is nil)
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
			steps.Kind{Name: "test.scale", Connection: "kubernetes", NewConfig: func() steps.Config { return &scaleConfig{} }, New: newFake},
			steps.Kind{Name: "test.check", ReadOnly: true, Outputs: []string{"hostname"}, NewConfig: func() steps.Config { return &checkConfig{} }, New: newFake},
			steps.Kind{Name: "test.promote", Connection: "postgres", Outputs: []string{"timeline"}, NewConfig: func() steps.Config { return &promoteConfig{} },
				New: func(_ context.Context, _ steps.Config, env steps.Env) (steps.Step, error) {
					return nil, fmt.Errorf("connect to %s: connection refused", env.Conn.Fields["dsn"])
				}},
			steps.Kind{Name: "test.future", NewConfig: func() steps.Config { return &promoteConfig{} }},
			steps.Kind{Name: "test.inline", ReadOnly: true, NewConfig: func() steps.Config { return &inlineConfig{} }, New: newFake},
			steps.Kind{Name: "test.logs", ReadOnly: true, NewConfig: func() steps.Config { return &promoteConfig{} },
				New: func(ctx context.Context, cfg steps.Config, env steps.Env) (steps.Step, error) {
					env.Logger.InfoContext(ctx, "building")
					return newFake(ctx, cfg, env)
				}},
			steps.Kind{Name: "test.awsthing", Connection: "aws", NewConfig: func() steps.Config { return &promoteConfig{} }, New: newFake},
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
