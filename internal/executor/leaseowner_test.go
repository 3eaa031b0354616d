package executor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// Two bot processes started with the same instance name (a second `bot
// console` exec'd into the pod of `bot serve`, say) on one store: the
// second must not take over the run the first is executing. Each Apply
// happens once, the audit trail has each step done once, and the second
// says who holds the run.
func TestTwoProcessesWithOneNameNeverBothExecuteARun(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	forEachStore(t, testTwoProcessesOneName)
}

func testTwoProcessesOneName(t *testing.T, dsn string) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := openDurableStore(ctx, dir, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rb := durableRunbook(dir)
	if err := st.CreateRun(ctx, &store.Run{ID: durableRun, Runbook: rb.Name, PlanHash: testHash(rb, nil), Requester: "U1",
		State: store.RunPending, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// The first process holds s3's Apply in flight until released.
	first := startHelper(t, dir, dsn, "start", "HELPER_HOLD=s3")
	defer func() {
		select {
		case <-first.exited:
		default:
			first.kill()
		}
	}()
	inFlight := func() bool {
		for _, l := range readLines(t, filepath.Join(dir, "apply.log")) {
			if l == "start s3" {
				return true
			}
		}
		return false
	}
	if !waitUntil(inFlight, first.exited, time.Minute) {
		t.Fatalf("the first process did not reach s3:\n%s", first.output())
	}
	// The second lives beside it for more than two of its leases (1s).
	second := startHelper(t, dir, dsn, "observe", "HELPER_FOR=2500ms")
	<-second.exited
	if second.err != nil {
		t.Fatalf("second process: %v\n%s", second.err, second.output())
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.exited:
	case <-time.After(time.Minute):
		t.Fatalf("the first process did not finish:\n%s", first.output())
	}
	if first.err != nil {
		t.Fatalf("first process: %v\n%s", first.err, first.output())
	}

	firstOwner := ownerLine(first.output())
	secondOwner := ownerLine(second.output())
	if !strings.HasPrefix(firstOwner, "bot-deployment-1/") || !strings.HasPrefix(secondOwner, "bot-deployment-1/") || firstOwner == secondOwner {
		t.Errorf("lease owners %q and %q: want the same name, each its own nonce", firstOwner, secondOwner)
	}
	out := second.output()
	if !strings.Contains(out, "run is held by another executor") || !strings.Contains(out, "owner="+firstOwner) {
		t.Errorf("the second process did not say who holds the run:\n%s", out)
	}
	if !strings.Contains(out, "owned by "+firstOwner) {
		t.Errorf("the run changed hands while its owner lived:\n%s", out)
	}
	run, err := st.GetRun(ctx, durableRun)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != store.RunSucceeded || run.Owner != firstOwner {
		t.Errorf("run is %s, owned by %s; want succeeded by %s", run.State, run.Owner, firstOwner)
	}
	applies := map[string]int{}
	for _, l := range readLines(t, filepath.Join(dir, "apply.log")) {
		applies[strings.TrimPrefix(l, "start ")]++
	}
	for _, s := range rb.AllSteps() {
		if applies[s.ID] != 1 {
			t.Errorf("step %s applied %d times, want once", s.ID, applies[s.ID])
		}
	}
	audit, err := st.Audit(ctx, durableRun)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, a := range audit {
		counts[a.Type+" "+a.StepID]++
	}
	for _, s := range rb.AllSteps() {
		if counts["step.done "+s.ID] != 1 {
			t.Errorf("step.done of %s recorded %d times", s.ID, counts["step.done "+s.ID])
		}
	}
	if counts["run.succeeded "] != 1 || counts["run.resumed "] != 0 {
		t.Errorf("run.succeeded %d times, run.resumed %d times; want once and never", counts["run.succeeded "], counts["run.resumed "])
	}
}

// ownerLine is the lease owner a helper printed ("owner X").
func ownerLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if o, ok := strings.CutPrefix(l, "owner "); ok {
			return o
		}
	}
	return ""
}
