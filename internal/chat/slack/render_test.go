package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	assessGo = &chat.AssessView{Runbook: "lab-failover", Go: true, Took: 1340 * time.Millisecond, Checks: []chat.CheckResult{
		{ID: "primary_api_down", Name: "Primary API unreachable", OK: true, Summary: "no answer within 2s (expect down)", Duration: 2 * time.Second},
		{ID: "dr_db_lag", Name: "DR replication lag", OK: true, Summary: "lag 1.2s < 30s", Duration: 35 * time.Millisecond},
	}}
	assessNoGo = &chat.AssessView{Runbook: "lab-failover", Go: false, Took: 2 * time.Second, Checks: []chat.CheckResult{
		{ID: "primary_api_down", Name: "Primary API unreachable", OK: false, Summary: "primary answered 200", Duration: 12 * time.Millisecond},
		{ID: "dr_redis", Name: "DR <redis> & sentinels", OK: false, Error: "dial tcp 127.0.0.1:6390: connect: connection refused", Duration: time.Millisecond},
	}}
	plan = &chat.PlanView{
		RunID: "lab-failover-20261122-0412-ab12", Runbook: "lab-failover", Requester: "UALICE",
		Reason: "primary region down (INC-42)", PlanHash: "3f5a9c0e1d2b7a6f88", ExpectedDataLoss: "1.2s",
		Params: map[string]string{"replicas": "3", "ticket": "INC-42"},
		Steps: []chat.PlanStep{
			{Phase: "Database", StepID: "check_lag", Name: "Replication lag under 30s", Kind: "postgres.replicationLag", Verdict: "already done", Summary: "lag 1.2s"},
			{Phase: "Database", StepID: "promote_db", Name: "Promote the DR standby", Kind: "postgres.promote", Verdict: "will change", Summary: "in recovery"},
			{Phase: "Traffic", StepID: "switch_dns", Name: "Point the API at DR", Kind: "http.check", Verdict: "unknown until promote_db runs"},
		},
		Assessment: assessNoGo, Approvers: []string{"UBOB"}, Required: 2,
		ExpiresAt: time.Date(2026, 11, 22, 4, 27, 0, 0, time.UTC), State: "pending",
	}
	progress = &chat.ProgressView{
		RunID: "lab-failover-20261122-0412-ab12", Runbook: "lab-failover", Requester: "UALICE",
		Approvers: []string{"UBOB", "UCAROL"}, State: "running", Current: "Promote the DR standby",
		Elapsed: 95 * time.Second, Expected: 5 * time.Minute,
		Phases: []chat.PhaseProgress{
			{Name: "Database", Status: "running", Steps: []chat.StepProgress{
				{ID: "check_lag", Name: "Replication lag under 30s", Status: "done", Summary: "lag 1.2s"},
				{ID: "promote_db", Name: "Promote the DR standby", Status: "running"},
			}},
			{Name: "Traffic", Status: "pending", Steps: []chat.StepProgress{
				{ID: "switch_dns", Name: "Point the API at DR", Status: "pending"},
			}},
		},
	}
)

func TestRenderGolden(t *testing.T) {
	approved := *plan
	approved.State, approved.Approvers = "approved", []string{"UBOB", "UCAROL"}
	plain := *plan
	plain.State, plain.RunID, plain.Approvers, plain.Assessment = "", "", nil, nil
	done := *progress
	done.State, done.Current, done.StateReason = "succeeded", "", "completed in 4m12s"
	done.Phases = []chat.PhaseProgress{{Name: "Database", Status: "done"}, {Name: "Traffic", Status: "skipped"}}
	for name, m := range map[string]chat.Message{
		"text":              {Text: "Usage: /failover start <runbook> [param=value…] [reason…]"},
		"assess_go":         {View: assessGo},
		"assess_nogo":       {View: assessNoGo},
		"plan_pending":      {View: plan},
		"plan_approved":     {View: &approved},
		"plan_dry_run":      {View: plain},
		"progress_running":  {View: progress},
		"progress_done":     {View: &done},
		"step_failed":       {View: &chat.StepFailedView{RunID: "lab-failover-20261122-0412-ab12", StepID: "promote_db", Error: "pg_promote returned false after 60s"}},
		"text_with_view":    {Text: "custom fallback", View: assessGo},
		"assess_value_type": {View: *assessGo},
	} {
		t.Run(name, func(t *testing.T) {
			text, blocks := Render(m)
			got, err := json.MarshalIndent(map[string]any{"text": text, "blocks": blocks}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
			}
		})
	}
}

// The rendered cards carry what a person needs to decide and act.
func TestRenderContent(t *testing.T) {
	text, blocks := Render(chat.Message{View: plan})
	js, _ := json.Marshal(blocks)
	for _, want := range []string{`"action_id":"approve"`, `"action_id":"reject"`, `"value":"lab-failover-20261122-0412-ab12"`,
		"1 of 2", `\u003c@UBOB\u003e`, `\u003c@UALICE\u003e`, "Expected data loss", "1.2s", "will change", "already done", "NO-GO",
		"DR \\u0026lt;redis\\u0026gt; \\u0026amp; sentinels", "04:27 UTC"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("plan blocks lack %q", want)
		}
	}
	if !strings.Contains(text, "waiting for approval (1 of 2)") {
		t.Errorf("fallback = %q", text)
	}
	_, blocks = Render(chat.Message{View: &chat.StepFailedView{RunID: "r1", StepID: "s1", Error: "boom"}})
	js, _ = json.Marshal(blocks)
	for _, want := range []string{`"action_id":"retry","value":"r1/s1"`, `"action_id":"skip","value":"r1/s1"`, `"action_id":"abort","value":"r1"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("step-failed blocks lack %s: %s", want, js)
		}
	}
	approved := *plan
	approved.State = "approved"
	_, blocks = Render(chat.Message{View: &approved})
	if js, _ := json.Marshal(blocks); strings.Contains(string(js), `"action_id":"approve"`) {
		t.Error("an approved plan still offers the Approve button")
	}
}

// The plan names the reactions the bot is configured to count.
func TestThePlanNamesTheConfiguredEmoji(t *testing.T) {
	custom := *plan
	custom.ApproveEmoji, custom.RejectEmoji = "ship_it", "no_good"
	_, blocks := Render(chat.Message{View: &custom})
	js, _ := json.Marshal(blocks)
	if !strings.Contains(string(js), "React :ship_it: or press Approve; :no_good: or Reject") || strings.Contains(string(js), "React :white_check_mark:") {
		t.Errorf("plan blocks do not name the configured emoji: %s", js)
	}
}

// A plan whose preflight failed says so first, before anything to approve.
func TestAFailedPreflightComesFirstOnThePlan(t *testing.T) {
	failed := *plan
	failed.Preflight = &chat.PreflightView{Checked: 7, Problems: []chat.PreflightProblem{
		{StepID: "scale_dr", Kind: "kubernetes.scale", Reason: "connection dr_eks: context \"lab-dr\" is not in the kubeconfig"}}}
	_, blocks := Render(chat.Message{View: &failed})
	js, _ := json.Marshal(blocks[1])
	if !strings.Contains(string(js), "Preflight failed") || !strings.Contains(string(js), "1 of 7 steps and checks could never run") ||
		!strings.Contains(string(js), "scale_dr") {
		t.Errorf("the block after the header is %s, want the preflight failure", js)
	}
	ok := *plan
	ok.Preflight = &chat.PreflightView{Checked: 7, Partial: []string{"dns"}}
	_, blocks = Render(chat.Message{View: &ok})
	all, _ := json.Marshal(blocks)
	if !strings.Contains(string(all), "Preflight: all 7 steps and checks build (1 checked in part") || strings.Contains(string(all), "Preflight failed") {
		t.Errorf("a clean preflight renders as %s", all)
	}
}

func TestRenderRespectsBlockKitLimits(t *testing.T) {
	long := strings.Repeat("x", 5000)
	var steps []chat.PlanStep
	for i := range 300 {
		steps = append(steps, chat.PlanStep{Phase: "P" + itoa(i/3), StepID: "s" + itoa(i), Name: long[:200], Verdict: "will change"})
	}
	text, blocks := Render(chat.Message{View: &chat.PlanView{Runbook: long, Steps: steps, State: "pending", Required: 2, Reason: long}})
	if len(blocks) > maxBlocks {
		t.Errorf("%d blocks, Slack accepts %d", len(blocks), maxBlocks)
	}
	if len(text) > maxFallback {
		t.Errorf("fallback of %d bytes", len(text))
	}
	js, _ := json.Marshal(blocks)
	var raw []map[string]any
	_ = json.Unmarshal(js, &raw)
	for _, b := range raw {
		if t2, ok := b["text"].(map[string]any); ok {
			s, _ := t2["text"].(string)
			limit := maxSectionText
			if b["type"] == "header" {
				limit = maxHeaderText
			}
			if len([]rune(s)) > limit {
				t.Errorf("%s block text of %d chars", b["type"], len([]rune(s)))
			}
		}
	}
}
