package slack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/store"
)

// TestTheReportIsPostedWhole: a run with a long reason and a long audit
// trail (refused approvals) is reported in full through Slack — the reason
// to its last word, the RTO and RPO lines, the audit trail to its last
// event — in sections Slack accepts, its tables in code blocks.
func TestTheReportIsPostedWhole(t *testing.T) {
	w := &flagWorld{flags: map[string]bool{"primary_down": true}}
	s := newFlagStack(t, w)
	const ch = "C0OPS"
	reason := strings.Repeat("the primary region stopped answering at 03:12 UTC; ", 70) + "END-OF-REASON"
	s.command("UALICE", ch, "start demo-failover ticket=INC-9 "+reason)
	var run *store.Run
	s.eventually(30*time.Second, func() string { return "no plan: " + s.ephemeralText("UALICE") }, func() bool {
		run = s.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	// Dave is no approver: each of his reactions is refused and audited.
	for i := range 30 {
		_, err := s.fake.React("UDAVE", run.ApprovalMsg.Channel, run.ApprovalMsg.TS, "white_check_mark", i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
	}
	s.eventually(30*time.Second, func() string { return fmt.Sprintf("dave was told %d times", len(s.fake.Ephemerals("UDAVE"))) },
		func() bool { return len(s.fake.Ephemerals("UDAVE")) >= 15 })
	s.react("UBOB", run.ApprovalMsg, "white_check_mark")
	s.react("UCAROL", run.ApprovalMsg, "white_check_mark")
	s.eventually(60*time.Second, func() string { r, _ := s.st.GetRun(s.ctx, run.ID); return "run is " + string(r.State) }, func() bool {
		r, _ := s.st.GetRun(s.ctx, run.ID)
		return r.State == store.RunSucceeded
	})
	before := len(s.fake.Messages(ch))
	s.command("UALICE", ch, "report "+run.ID)
	s.eventually(30*time.Second, func() string { return "no report" }, func() bool {
		for _, m := range s.fake.Messages(ch)[before:] {
			if strings.Contains(messageText(m), "run.succeeded") {
				return true
			}
		}
		return false
	})
	var all strings.Builder
	parts := 0
	for _, m := range s.fake.Messages(ch)[before:] {
		parts++
		for _, txt := range mrkdwnTexts(m.Blocks) {
			if len(txt) > 3000 {
				t.Errorf("a section of %d bytes", len(txt))
			}
			if strings.Count(txt, "```")%2 != 0 {
				t.Errorf("a section leaves a code block open:\n%s", txt)
			}
			all.WriteString(txt + "\n")
		}
		if m.Blocks == "" {
			all.WriteString(m.Text + "\n")
		}
	}
	got := all.String()
	for _, want := range []string{"END-OF-REASON", "RTO (run start → last step done):", "RPO", "run.succeeded", "approval.refused",
		"```\n  STEP", "```\n  AT"} {
		if !strings.Contains(got, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if n := strings.Count(got, "approval.refused"); n < 15 {
		t.Errorf("the report shows %d refusals, want every one (≥ 15)", n)
	}
	if strings.Contains(got, "more characters)") || strings.Contains(got, "not shown") {
		t.Errorf("the report was cut:\n%s", got)
	}
	t.Logf("the report: %d bytes in %d message(s)", len(got), parts)
}
