package slack_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/store"
)

// dbaGate is a DBA sign-off before the promotion: two people of group
// dba, none of them an approver of the run's start.
const dbaGate = `      - id: dba_signoff
        name: DBA sign-off before the promotion
        kind: gate
        timeout: 10m
        with:
          message: "Promote the DR standby? Check replication lag and sign off."
          required: 2
          groups: [dba]
          allowRequester: false
          allowEarlierApprovers: false
`

// The lab failover with a DBA gate before the promotion, through `bot
// serve`'s wiring and the Slack fake: the run waits (waiting_approval), the
// gate's request is posted in the run's thread, an outsider and an
// approver of the start are refused, two DBAs approve (a reaction and a
// button) and the run finishes, the promotion after the sign-off.
func TestServeLabFailoverWithADBAGate(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "..", "runbooks", "lab-failover.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rb := strings.Replace(string(src), "name: lab-failover\n", "name: lab-failover-dba\n", 1)
	rb = strings.Replace(rb, "    steps:\n      - id: promote_db\n", "    steps:\n"+dbaGate+"      - id: promote_db\n        needs: [dba_signoff]\n", 1)
	if !strings.Contains(rb, "dba_signoff") {
		t.Fatal("could not insert the gate into lab-failover.yaml")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab-failover-dba.yaml"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	l := labtest.Failed(t, lab.FailStop)
	s := newServeStack(t, dir, lab.RunbookEnv(l.Env()))
	s.command("UALICE", "C0OPS", "start lab-failover-dba lab primary down")
	var run *store.Run
	s.eventually(60*time.Second, func() string { return "no plan posted: " + s.ephemeralText("UALICE") }, func() bool {
		run = s.latestRun()
		return run != nil && run.ApprovalMsg.TS != ""
	})
	s.react("UBOB", run.ApprovalMsg, "white_check_mark")
	s.react("UCAROL", run.ApprovalMsg, "white_check_mark")

	// The run waits for the gate; its request is in the card's thread.
	var gate *store.StepState
	s.eventually(60*time.Second, func() string { return "the gate did not ask: run " + string(s.run(run.ID).State) }, func() bool {
		gate = s.step(run.ID, "dba_signoff")
		return s.run(run.ID).State == store.RunWaiting && gate != nil && gate.Status == store.StepWaiting && gate.Message.TS != ""
	})
	card := s.run(run.ID).Card
	req, ok := s.fake.Message(gate.Message.Channel, gate.Message.TS)
	if !ok || req.ThreadTS != card.TS || !strings.Contains(req.Blocks, `"value":"`+run.ID+`/dba_signoff"`) ||
		!strings.Contains(req.Blocks, "Check replication lag") {
		t.Fatalf("gate request %+v, want it in the card's thread (%s) with the gate's buttons", req, card.TS)
	}
	// The card says what the run waits for, who may approve, and links the request.
	s.eventually(20*time.Second, func() string {
		m, _ := s.fake.Message(card.Channel, card.TS)
		return "the card does not show the wait: " + m.Blocks
	},
		func() bool {
			m, _ := s.fake.Message(card.Channel, card.TS)
			return strings.Contains(m.Blocks, "Waiting for approval") && strings.Contains(m.Blocks, "group dba") &&
				strings.Contains(m.Blocks, "/p"+strings.ReplaceAll(gate.Message.TS, ".", ""))
		})
	if st := s.step(run.ID, "promote_db"); st != nil && st.Attempts > 0 {
		t.Fatal("the promotion ran before the DBA sign-off")
	}
	// Bob approved the start: he may not sign off; Dave is no DBA.
	s.react("UBOB", gate.Message, "white_check_mark")
	s.react("UDAVE", gate.Message, "white_check_mark")
	s.eventually(10*time.Second, func() string {
		return "bob and dave were not told: " + s.ephemeralText("UBOB") + " / " + s.ephemeralText("UDAVE")
	},
		func() bool {
			return strings.Contains(s.ephemeralText("UBOB"), "approved an earlier step") && strings.Contains(s.ephemeralText("UDAVE"), "may not approve")
		})
	s.react("UEVE", gate.Message, "white_check_mark")
	// Eve's reaction and Frank's click reach different workers: let Eve's
	// count first, so the order of the sign-offs is known.
	s.eventually(10*time.Second, func() string { return "eve's approval not recorded: " + s.ephemeralText("UEVE") },
		func() bool { return strings.Contains(s.ephemeralText("UEVE"), "is recorded (1/2)") })
	if _, err := s.fake.Click("UFRANK", gate.Message.Channel, gate.Message.TS, "approve", run.ID+"/dba_signoff"); err != nil {
		t.Fatal(err)
	}
	s.eventually(2*time.Minute, func() string {
		return "the run did not finish: " + string(s.run(run.ID).State) + " " + s.run(run.ID).StateReason
	},
		func() bool { return s.run(run.ID).State == store.RunSucceeded })
	if g := s.step(run.ID, "dba_signoff"); g.Outputs["confirmedBy"] != "UEVE,UFRANK" {
		t.Errorf("signed off by %q, want UEVE,UFRANK", g.Outputs["confirmedBy"])
	}
	if g, p := s.step(run.ID, "dba_signoff"), s.step(run.ID, "promote_db"); !p.StartedAt.After(g.EndedAt) && !p.StartedAt.Equal(g.EndedAt) {
		t.Errorf("promote_db started %s, before the sign-off ended %s", p.StartedAt, g.EndedAt)
	}
	s.eventually(10*time.Second, func() string { return "the gate request does not say approved" }, func() bool {
		m, _ := s.fake.Message(gate.Message.Channel, gate.Message.TS)
		return strings.Contains(m.Blocks, "Approved")
	})
}

func (s *stack) run(id string) *store.Run {
	s.t.Helper()
	r, err := s.st.GetRun(s.ctx, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// step is a step's stored state (nil before it has one).
func (s *stack) step(runID, stepID string) *store.StepState {
	s.t.Helper()
	sts, err := s.st.Steps(s.ctx, runID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, st := range sts {
		if st.StepID == stepID {
			return st
		}
	}
	return nil
}
