package lab

import (
	"context"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/executor"
)

// The case that hangs naive tools: the primary region's ports accept
// connections and never answer. `/failover assess` must still answer, within
// its checks' deadlines, and say GO (primary down, DR ready).
func TestAssessAnswersWithinDeadlinesWhenThePrimaryBlackholes(t *testing.T) {
	l := upLab(t)
	ctx := context.Background()
	rb, _ := loadLabRunbook(t, l, "lab-failover.yaml")
	if err := l.FailPrimary(ctx, FailBlackhole); err != nil {
		t.Fatal(err)
	}
	ex := &executor.Planner{} // assessment needs no store
	var deadline time.Duration
	for _, s := range rb.Assess {
		deadline = max(deadline, s.Timeout)
	}
	start := time.Now()
	view := ex.Assess(ctx, rb)
	took := time.Since(start)
	for _, c := range view.Checks {
		t.Logf("%-22s ok=%-5v %6s %s%s", c.ID, c.OK, c.Duration.Round(time.Millisecond), c.Summary, c.Error)
	}
	if took > deadline+time.Second {
		t.Errorf("assess took %s, more than its longest check deadline %s", took.Round(time.Millisecond), deadline)
	}
	if !view.Go {
		t.Errorf("assess says NO GO with the primary blackholed and the DR region ready")
	}
	if len(view.Checks) != len(rb.Assess) {
		t.Errorf("%d checks answered, want %d", len(view.Checks), len(rb.Assess))
	}
}
