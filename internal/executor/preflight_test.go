package executor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/store"
)

// preflightYAML uses the real step kinds: a Redis promotion that would
// run first, beside a step whose kind is only declared (and an assess
// check of such a kind), a PostgreSQL step
// whose DSN does not parse, and a step whose config waits for an earlier
// step's outputs (checked as far as it can be).
const preflightYAML = `
name: preflight
description: a run that could never finish
approval: {required: 0}
connections:
  cache: {type: redis, addr: "127.0.0.1:1"}
  db: {type: postgres, dsn: "${secret:DB_DSN}"}
  bad_db: {type: postgres, dsn: "postgres://app:hunter2@db.example:notaport/app"}
assess:
  - {id: dr_nodes, kind: test.declaredProbe, with: {name: dr}}
phases:
  - id: one
    steps:
      - {id: promote_cache, kind: redis.promote, connection: cache}
      - {id: scale_dr, kind: test.declared, with: {name: api}}
      - {id: bad_query, kind: postgres.query, connection: bad_db, with: {sql: "SELECT 1"}}
      - id: uses_promote
        kind: postgres.query
        connection: db
        needs: [promote_cache]
        with: {sql: "SELECT '{{ .steps.promote_cache.outputs.role }}'"}
`

func loadPreflight(t *testing.T) (*runbook.Runbook, *secret.Redactor) {
	t.Helper()
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	// Kinds that validate and plan but cannot be built (as the Kubernetes
	// and AWS kinds were before they were written).
	if err := reg.Register(steps.DeclaredProbe[markConfig](steps.Spec{Name: "test.declaredProbe"}),
		steps.DeclaredStep[markConfig](steps.Spec{Name: "test.declared"})); err != nil {
		t.Fatal(err)
	}
	red := &secret.Redactor{}
	res := &secret.Resolver{Lookup: func(n string) (string, bool) {
		return "postgres://app:s3cr3t@127.0.0.1:1/app", n == "FAILOVER_SECRET_DB_DSN"
	}, Redactor: red}
	rb, err := runbook.Parse("preflight.yaml", []byte(preflightYAML), reg, runbook.WithSecrets(res))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return rb, red
}

func TestPreflightFindsEveryStepThatCouldNeverRun(t *testing.T) {
	rb, red := loadPreflight(t)
	pf := (&Planner{Redactor: red}).Preflight(context.Background(), rb, nil)
	var got []string
	for _, p := range pf.Problems {
		got = append(got, p.StepID+" ("+p.Kind+")")
	}
	want := []string{"dr_nodes (test.declaredProbe)", "scale_dr (test.declared)", "bad_query (postgres.query)"}
	if !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v\n%s", got, want, pf)
	}
	for _, p := range pf.Problems[:2] {
		if p.Reason != "step kind "+p.Kind+" is declared but not implemented yet" {
			t.Errorf("%s: reason %q", p.StepID, p.Reason)
		}
	}
	if r := pf.Problems[2].Reason; !strings.Contains(r, "connection bad_db") || strings.Contains(r, "hunter2") {
		t.Errorf("bad_query: reason %q, want the connection named and no password", r)
	}
	if pf.OK() || pf.Checked != 5 {
		t.Errorf("OK %v, checked %d; want not OK, 5", pf.OK(), pf.Checked)
	}
	if w := pf.Partial["uses_promote"]; !slices.Equal(w, []string{"promote_cache"}) {
		t.Errorf("uses_promote waits for %v, want promote_cache", w)
	}
	if strings.Contains(pf.String(), "s3cr3t") || strings.Contains(pf.String(), "hunter2") {
		t.Errorf("a secret in the preflight: %s", pf)
	}
}

// A runbook that cannot finish must not half-run when it is started
// anyway (an old request, a runbook edited on disk): the executor builds
// every step of a phase before it applies any of them.
func TestAStepThatCannotBeBuiltPausesItsPhaseBeforeAnythingIsApplied(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	onPreflight(w, "b", func(runbook.Vars) error {
		return errors.New("build step b (test.fake): connection db: cannot parse the DSN")
	})
	rb := mkRunbook("half",
		[]*runbook.Step{mkStep(w, "a"), mkStep(w, "b")},
		[]*runbook.Step{mkStep(w, "c")})
	id := e.start(rb, nil)
	run := e.wait(id)
	if run.State != store.RunPaused || !strings.Contains(run.StateReason, "cannot build step b (test.fake): connection db: cannot parse the DSN") ||
		!strings.Contains(run.StateReason, "nothing of phase p1 was applied") {
		t.Fatalf("run is %s (%s), want paused on b", run.State, run.StateReason)
	}
	if len(w.order) != 0 {
		t.Fatalf("applied %v before a step of the phase could be built", w.order)
	}
	// Fixed: resume, and the run goes on.
	preflightHooks.Delete(hookKey{w, "b"})
	if err := e.ex.Resume(context.Background(), id, "U1"); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("after the fix: %s (%s)", run.State, run.StateReason)
	}
}

// A step whose config waits for another's outputs is built just before it
// runs; if that fails, the steps that would start beside it are not
// started either: the run pauses with nothing of that wave applied.
func TestAWaveIsBuiltWholeBeforeAnyOfItIsApplied(t *testing.T) {
	e := newEnv(t)
	w := newWorld()
	broken := true
	onBuild(w, "c", func(v runbook.Vars, _ *fakeStep) error {
		if broken {
			return errors.New("build step c (test.fake): with.target: the address a gave is not a host name")
		}
		return nil
	})
	rb := mkRunbook("wave", []*runbook.Step{mkStep(w, "a"), mkStep(w, "b", needs("a")), mkStep(w, "c", needs("a"))})
	id := e.start(rb, nil)
	run := e.wait(id)
	if run.State != store.RunPaused {
		t.Fatalf("run is %s (%s), want paused", run.State, run.StateReason)
	}
	if got := strings.Join(w.order, " "); got != "apply:a" {
		t.Errorf("applied %q, want a only (b waits with c)", got)
	}
	e.wantStatus(id, map[string]store.StepStatus{"a": store.StepDone, "b": store.StepPending, "c": store.StepFailed})
	if st := e.steps(id)["c"]; !strings.Contains(st.Error, "the address a gave is not a host name") || strings.Count(st.Error, "build step") != 1 {
		t.Errorf("c's error %q: want the build error, said once", st.Error)
	}
	broken = false
	if err := e.ex.RetryStep(context.Background(), id, "c", "U1"); err != nil {
		t.Fatal(err)
	}
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("after the fix: %s (%s)", run.State, run.StateReason)
	}
}

var _ steps.Probe = (*fakeStep)(nil)

// An assessment can never say GO while one of its checks could not run.
func TestAssessIsNoGoWhileACheckCouldNotRun(t *testing.T) {
	rb, red := loadPreflight(t)
	a := (&Planner{Redactor: red}).Assess(context.Background(), rb)
	if a.Go || len(a.Checks) != 1 {
		t.Fatalf("assessment %+v, want NO-GO", a)
	}
	c := a.Checks[0]
	if !c.NotRun || c.OK || c.Error != "could not run: step kind test.declaredProbe is declared but not implemented yet" {
		t.Errorf("check = %+v, want it reported as not run, with why", c)
	}
}

// A secret in a step's outputs never lands in the store (issue: outputs
// were stored unscrubbed), while a later step of the run still gets the
// value it needs.
func TestOutputsAreStoredScrubbedAndPassedOnWhole(t *testing.T) {
	e := newEnv(t)
	e.red.Add("s3cr3t-conn-pw")
	w := newWorld()
	w.set("lb")
	var got string
	use := mkStep(w, "use", needs("lb"))
	onBuild(w, "use", func(v runbook.Vars, _ *fakeStep) error {
		got = v.Outputs["lb"]["dsn"]
		return nil
	})
	rb := mkRunbook("outs", []*runbook.Step{mkStep(w, "lb", outputs(map[string]string{"dsn": "postgres://app:s3cr3t-conn-pw@db/app"})), use})
	id := e.start(rb, nil)
	if run := e.wait(id); run.State != store.RunSucceeded {
		t.Fatalf("run is %s (%s)", run.State, run.StateReason)
	}
	if got != "postgres://app:s3cr3t-conn-pw@db/app" {
		t.Errorf("the later step got %q, want the output whole", got)
	}
	if v := e.steps(id)["lb"].Outputs["dsn"]; strings.Contains(v, "s3cr3t-conn-pw") || !strings.Contains(v, "[redacted]") {
		t.Errorf("stored output %q, want it scrubbed", v)
	}
}

// A connection given as ${secret:…} that changes between approval and
// start (the secret file rewritten: another host) voids the approvals: the
// run's hash binds a keyed digest of what its connections resolved to,
// never the values themselves.
func TestARunIsBoundToWhatItsConnectionsResolvedTo(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PlanHash = nil; c.BindKey = []byte("test binding key") })
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	dsn := "postgres://app:pw-one-1234@db-a.internal:5432/app"
	res := &secret.Resolver{Lookup: func(n string) (string, bool) { return dsn, n == "FAILOVER_SECRET_DB_DSN" }, Redactor: e.red}
	src := "name: bound\napproval: {required: 0}\nconnections:\n  db: {type: postgres, dsn: \"${secret:DB_DSN}\"}\nphases:\n  - id: one\n    steps:\n      - {id: q, kind: postgres.query, connection: db, with: {sql: \"SELECT 1\"}}\n"
	rb, err := runbook.Parse("bound.yaml", []byte(src), reg, runbook.WithSecrets(res))
	if err != nil {
		t.Fatal(err)
	}
	pl := e.ex.Planner()
	h1, err := pl.Hash(rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == rb.PlanHash(nil) || strings.Contains(h1, "pw-one") {
		t.Fatalf("hash %s does not bind the connections (plan hash %s)", h1, rb.PlanHash(nil))
	}
	if again, _ := pl.Hash(rb, nil); again != h1 {
		t.Errorf("the same resolution gave another hash")
	}
	ctx := context.Background()
	run, err := e.ex.Request(ctx, RunRequest{Runbook: rb, PlanHash: h1, Requester: "U1"})
	if err != nil {
		t.Fatal(err)
	}
	dsn = "postgres://app:pw-one-1234@db-b.internal:5432/app" // rewritten: another host
	if h2, _ := pl.Hash(rb, nil); h2 == h1 {
		t.Fatal("another host gave the same hash")
	}
	if err := e.ex.Approve(ctx, run.ID, rb, []string{"U2", "U3"}); !errors.Is(err, ErrStalePlan) {
		t.Fatalf("approve after the secret changed: %v, want ErrStalePlan", err)
	}
	if got := e.run(run.ID); got.State != store.RunExpired {
		t.Errorf("run is %s, want expired", got.State)
	}
}
