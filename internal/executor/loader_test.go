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

func (c *markConfig) CheckAndSetDefaults() error {
	if c.Name == "" {
		return steps.FieldErrorf("name", "is required")
	}
	return nil
}

// markKind is a test kind over a world: Check reports whether name is in
// place (output host = <name>.example), Apply puts it in place and records
// the target it was built with, or fails permanently with Fail.
func markKind(w *world, targets map[string]string) steps.Kind {
	return steps.StepKind(steps.Spec{Name: "test.mark", Doc: "test", Outputs: []string{"host"}},
		func(ctx context.Context, c *markConfig, env steps.Env) (steps.Step, error) {
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
		})
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
	res := &secret.Resolver{Lookup: func(n string) (string, bool) { return pw, n == "FAILOVER_SECRET_DB_PASSWORD" }, Redactor: e.red}
	rb, err := runbook.Parse("loaded.yaml", []byte(loadedYAML), reg, runbook.WithSecrets(res))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ctx := context.Background()
	plan, err := e.ex.Planner().Plan(ctx, rb, nil)
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
	// The hash a run is bound to: that of the bound parameters.
	if bound, _ := rb.BindParams(nil); plan.Hash != rb.PlanHash(bound) {
		t.Errorf("plan hash %s, want %s", plan.Hash, rb.PlanHash(bound))
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

// chainYAML mirrors phase 2 of runbooks/mimir-region-failover.yaml: the
// standby is promoted, else forced, else (only when allowed) restored from
// a backup; the steps after it need promote_db and use its outputs.
const chainYAML = `
name: chain-loaded
description: the database phase of mimir-region-failover
approval: {required: 0}
params:
  - {name: allow_restore_from_backup, default: "no"}
phases:
  - id: database
    steps:
      - id: promote_db
        kind: test.mark
        with: {name: promote_db, fail: "pg_promote: standby not ready"}
      - id: force_promote
        kind: test.mark
        alternativeOf: promote_db
        with: {name: force_promote, fail: "trigger file: promote_trigger_file not set"}
      - id: restore_from_backup
        kind: test.mark
        alternativeOf: force_promote
        when: '{{ eq .params.allow_restore_from_backup "yes" }}'
        with: {name: restore_from_backup}
      - id: verify_promotion
        kind: test.mark
        needs: [promote_db]
        with: {name: verify_promotion, target: "{{ .steps.promote_db.outputs.host }}"}
      - id: patch_db_service
        kind: test.mark
        needs: [verify_promotion]
        with: {name: patch_db_service}
`

func TestALoadedRunbookHonoursChainedAlternatives(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PlanHash = nil }) // the real runbook.PlanHash
	w := newWorld()
	targets := map[string]string{}
	reg := steps.NewRegistry()
	if err := reg.Register(markKind(w, targets)); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Parse("chain.yaml", []byte(chainYAML), reg)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if a, b := rb.Step("force_promote").AlternativeOf, rb.Step("restore_from_backup").AlternativeOf; a != "promote_db" || b != "force_promote" {
		t.Fatalf("loaded alternativeOf: force_promote → %q, restore_from_backup → %q", a, b)
	}
	ctx := context.Background()
	allow := map[string]string{"allow_restore_from_backup": "yes"}
	plan, err := e.ex.Planner().Plan(ctx, rb, allow)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range plan.Steps {
		got = append(got, s.StepID+": "+s.Verdict)
	}
	want := []string{"promote_db: will change", "force_promote: only if promote_db fails", "restore_from_backup: only if force_promote fails",
		"verify_promotion: unknown until promote_db runs", "patch_db_service: unknown until verify_promotion runs"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	start := func(id string, params map[string]string) *store.Run {
		t.Helper()
		run := &store.Run{ID: id, Runbook: rb.Name, PlanHash: rb.PlanHash(params), Params: params, State: store.RunPending}
		if err := e.st.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := e.ex.Start(ctx, run.ID, rb); err != nil {
			t.Fatalf("start: %v", err)
		}
		return e.wait(run.ID)
	}

	// By default a backup is not restored: the run pauses once the trigger
	// file failed too, and says why.
	r := start("chain-default", nil)
	if r.State != store.RunPaused {
		t.Fatalf("run is %s, want paused", r.State)
	}
	for _, part := range []string{"step promote_db failed: apply: pg_promote: standby not ready",
		"alternative force_promote failed: apply: trigger file: promote_trigger_file not set",
		"alternative restore_from_backup (of force_promote) skipped: its when condition is false"} {
		if !strings.Contains(r.StateReason, part) {
			t.Errorf("pause reason %q lacks %q", r.StateReason, part)
		}
	}
	if err := e.ex.Abort(ctx, r.ID, "U1"); err != nil {
		t.Fatal(err)
	}

	// Allowed: the backup is restored, it replaces both failed steps and
	// the steps after them use its outputs.
	r = start("chain-allowed", allow)
	if r.State != store.RunSucceeded {
		t.Fatalf("run is %s: %s", r.State, r.StateReason)
	}
	e.wantStatus(r.ID, map[string]store.StepStatus{"promote_db": store.StepReplaced, "force_promote": store.StepReplaced,
		"restore_from_backup": store.StepDone, "verify_promotion": store.StepDone, "patch_db_service": store.StepDone})
	if targets["verify_promotion"] != "restore_from_backup.example" {
		t.Errorf("verify_promotion was built with promote_db's host %q, want restore_from_backup's", targets["verify_promotion"])
	}
}
