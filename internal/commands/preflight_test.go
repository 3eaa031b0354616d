package commands

import (
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/store"
)

// A runbook with a step that could never run (its kind is only declared)
// is refused at start with the list of what failed: nothing is posted for
// approval, no run is created, and the refusal is audited.
func TestStartIsRefusedWhenAStepCouldNeverRun(t *testing.T) {
	f := newFixture(t)
	f.writeRunbook("      - {id: scale_dr, name: Scale DR, kind: test.declared}\n")
	f.h.o.Planner = &executor.Planner{} // the real preflight
	out := f.command("oncall-1", "start lab primary down")
	want := "Cannot start lab: 1 of its 4 steps and checks could never run, so nothing was started:\n• scale_dr (test.declared): step kind test.declared is declared but not implemented yet"
	if len(out.replies) != 1 || out.replies[0].Msg.Text != want || !out.replies[0].Msg.Error {
		t.Errorf("replies %+v, want the error %q", out.replies, want)
	}
	if runs, _ := f.st.ListRuns(f.ctx, store.ListOptions{}); len(runs) != 0 {
		t.Errorf("%d runs created", len(runs))
	}
	if len(f.poster.msgs) != 0 {
		t.Errorf("posted %+v", f.poster.msgs)
	}
	evs, _ := f.st.Audit(f.ctx, "")
	if len(evs) != 1 || evs[0].Type != "run.refused" || !strings.Contains(evs[0].Data["preflight"], "scale_dr (test.declared)") {
		t.Errorf("audit = %+v", evs)
	}
	// The plan shows the same preflight section.
	out = f.command("oncall-1", "plan lab")
	if v := planOf(t, out); v.Preflight == nil || len(v.Preflight.Problems) != 1 || v.Preflight.Problems[0].StepID != "scale_dr" || v.Preflight.Checked != 4 {
		t.Errorf("plan preflight = %+v", v.Preflight)
	}
}

// planOf is the plan view a command answered with.
func planOf(t *testing.T, out *fakeResponder) *chat.PlanView {
	t.Helper()
	for _, r := range out.replies {
		if v, ok := r.Msg.View.(*chat.PlanView); ok {
			return v
		}
	}
	t.Fatalf("no plan in %+v", out.replies)
	return nil
}
