package runbook_test

import (
	"fmt"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

type replicasConfig struct {
	Replicas int `yaml:"replicas"`
}

func (c *replicasConfig) CheckAndSetDefaults() error {
	if c.Replicas < 0 {
		return steps.FieldErrorf("replicas", "must be ≥ 0")
	}
	return nil
}

// Every problem of a runbook is reported at once, each with its file, line
// and field.
func ExampleParse() {
	reg := steps.NewRegistry()
	_ = reg.Register(steps.DeclaredStep[replicasConfig](steps.Spec{Name: "demo.scale"}))
	_, err := runbook.Parse("runbooks/x.yaml", []byte(`name: x
approval: {required: -1}
phases:
  - id: apps
    steps:
      - id: scale
        kind: demo.scale
        with:
          replicas: -1
          replica: 2
      - id: scale
        kind: demo.scael
        needs: [scale_up]
`), reg)
	fmt.Println(err)
	// Output:
	// runbooks/x.yaml:2: approval.required: must be ≥ 0
	// runbooks/x.yaml:9: phases[0].steps[0].with.replicas: must be ≥ 0
	// runbooks/x.yaml:10: phases[0].steps[0].with.replica: unknown field "replica" (did you mean replicas?)
	// runbooks/x.yaml:11: phases[0].steps[1].id: duplicate step id "scale" (first at line 6)
	// runbooks/x.yaml:12: phases[0].steps[1].kind: unknown step kind "demo.scael" (did you mean demo.scale?); "bot kinds" lists every kind
	// runbooks/x.yaml:13: phases[0].steps[1].needs[0]: unknown step "scale_up" (did you mean scale?)
}
