package console

import (
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
)

func TestPlanShowsTheConnectionsOverlay(t *testing.T) {
	v := &chat.PlanView{Runbook: "mimir-region-failover", PlanHash: "0123456789abcdef",
		Overlay: "lab (runbooks/overlays/lab.yaml): dr_cluster.context=lab-dr"}
	out := Render(chat.Message{View: v})
	if !strings.Contains(out, "\n  plan hash: 0123456789ab\n  connections overlay: lab (runbooks/overlays/lab.yaml): dr_cluster.context=lab-dr") {
		t.Errorf("plan:\n%s", out)
	}
	v.Overlay = ""
	if out := Render(chat.Message{View: v}); strings.Contains(out, "overlay") {
		t.Errorf("a plan without overlay mentions one:\n%s", out)
	}
}
