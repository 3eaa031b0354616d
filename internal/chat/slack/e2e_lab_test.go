package slack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/store"
)

// TestEndToEndLabFailover fails the real lab's primary region and fails it
// over through Slack: assess, start, a refused self-approval, a redelivered
// reaction counted once, two approvals, and the card shows the run done.
// The primary fails by stopping, and by dropping packets (blackhole).
// The runbook itself verifies that the DR database accepts writes.
func TestEndToEndLabFailover(t *testing.T) {
	src := filepath.Join("..", "..", "..", "runbooks", "lab-failover.yaml")
	yaml, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []lab.FailMode{lab.FailStop, lab.FailBlackhole} {
		t.Run(string(mode), func(t *testing.T) { labFailover(t, yaml, mode) })
	}
}

func labFailover(t *testing.T, yaml []byte, mode lab.FailMode) {
	l := labtest.Failed(t, mode)
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab-failover.yaml"), yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{registry: reg, dir: dir, env: lab.RunbookEnv(l.Env())})
	run := approveAndRun(t, s, "lab-failover", "lab primary down", 3*time.Minute)
	if run.State != store.RunSucceeded {
		t.Fatalf("run %s", run.State)
	}
	if ops := s.channelText("C0OPS"); !strings.Contains(ops, "*GO*: 5 of 5 checks passed") {
		t.Errorf("the assessment was not a GO with 5 checks:\n%s", ops)
	}
	card, _ := s.fake.Message(run.Card.Channel, run.Card.TS)
	for _, want := range []string{"Promote the DR standby (pg_promote)", "Point every Sentinel at the DR master", "DR health endpoint up"} {
		if !strings.Contains(messageText(card), want) {
			t.Errorf("the card lacks %q", want)
		}
	}
	t.Logf("final card:\n%s", messageText(card))
	// No secret of the lab reaches Slack.
	seen := s.channelText("C0OPS") + s.channelText(run.Card.Channel) + s.ephemeralText("")
	for _, name := range []string{"LAB_PG_PASSWORD", "LAB_REDIS_PASSWORD"} {
		if v := l.Env()[name]; v != "" && strings.Contains(seen, v) {
			t.Errorf("%s was shown in Slack", name)
		}
	}
	t.Logf("VmRSS after the lab run: %.1f MiB", float64(rssKiB())/1024)
}
