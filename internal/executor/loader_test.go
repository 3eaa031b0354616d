package executor

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/store"
)

// A runbook loaded from YAML by the real loader: templates, outputs,
// secrets and the plan hash go through the same code as in production.

type markConfig struct {
	Name   string `yaml:"name"`
	Target string `yaml:"target"`
	Fail   string `yaml:"fail"`
}

func (c *markConfig) Validate() error {
	if c.Name == "" {
		return steps.FieldErrorf("name", "is required")
	}
	return nil
}

// markKind is a test kind over a world: Check reports whether name is in
// place (output host = <name>.example), Apply puts it in place and records
// the target it was built with, or fails permanently with Fail.
func markKind(w *world, targets map[string]string) steps.Kind {
	return steps.Kind{Name: "test.mark", Doc: "test", Outputs: []string{"host"},
		NewConfig: func() steps.Config { return &markConfig{} },
		New: func(ctx context.Context, cfg steps.Config, env steps.Env) (steps.Step, error) {
			c := cfg.(*markConfig)
			return &fakeStep{w: w, id: c.Name, outputs: map[string]string{"host": c.Name + ".example"},
				apply: func(ctx context.Context) error {
					if c.Fail != "" {
						return steps.Permanentf("%s", c.Fail)
					}
					w.mu.Lock()
					targets[c.Name] = c.Target
					w.mu.Unlock()
					w.set(c.Name)
					return nil
				}}, nil
		}}
}

const loadedYAML = `
name: loaded
description: loaded by the real loader
approval: {required: 0}
params:
  - {name: zone, default: example.com}
  - {name: mode, default: full}
phases:
  - id: one
    steps:
      - {id: lb, kind: test.mark, with: {name: lb}}
      - id: dns
        kind: test.mark
        needs: [lb]
        with: {name: dns, target: "{{ .steps.lb.outputs.host }} in {{ .params.zone }}"}
      - id: cleanup
        kind: test.mark
        when: '{{ eq .params.mode "partial" }}'
        with: {name: cleanup}
  - id: two
    steps:
      - id: db
        kind: test.mark
        with: {name: db, fail: "auth failed for ${secret:DB_PASSWORD}"}
`

func TestALoadedRunbookPlansRunsAndScrubsSecrets(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PlanHash = nil }) // the real runbook.PlanHash
	w := newWorld()
	targets := map[string]string{}
	reg := steps.NewRegistry()
	if err := reg.Register(markKind(w, targets)); err != nil {
		t.Fatal(err)
	}
	const pw = "pa55-w0rd-of-db"
	res := &secret.Resolver{Lookup: func(n string) (string, bool) { return pw, n == "DB_PASSWORD" }, Redactor: e.red}
	rb, err := runbook.Parse("loaded.yaml", []byte(loadedYAML), reg, runbook.WithSecrets(res))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ctx := context.Background()
	plan, err := e.ex.Plan(ctx, rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range plan.Steps {
		got = append(got, s.StepID+": "+s.Verdict)
	}
	want := []string{"lb: will change", "dns: unknown until lb runs", "cleanup: skipped: its when condition is false", "db: will change"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if plan.Hash != rb.PlanHash(nil) {
		t.Errorf("plan hash %s, want %s", plan.Hash, rb.PlanHash(nil))
	}

	run := &store.Run{ID: "loaded-1", Runbook: rb.Name, PlanHash: rb.PlanHash(nil), State: store.RunPending}
	if err := e.st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := e.ex.Start(ctx, run.ID, rb); err != nil {
		t.Fatalf("start: %v", err)
	}
	r := e.wait(run.ID)
	if r.State != store.RunPaused {
		t.Fatalf("run is %s, want paused on db", r.State)
	}
	if targets["dns"] != "lb.example in example.com" {
		t.Errorf("dns was built with target %q", targets["dns"])
	}
	e.wantStatus(run.ID, map[string]store.StepStatus{"lb": store.StepDone, "dns": store.StepDone, "cleanup": store.StepSkipped, "db": store.StepFailed})
	st := e.steps(run.ID)["db"]
	all := st.Error + r.StateReason
	for _, a := range e.audit(run.ID) {
		all += a.Message
	}
	for _, ev := range e.rec.all() {
		all += ev.Error + ev.Summary
	}
	if strings.Contains(all, pw) || !strings.Contains(st.Error, "auth failed for [redacted]") {
		t.Errorf("secret not scrubbed: step error %q", st.Error)
	}
}
