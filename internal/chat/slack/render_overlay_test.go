package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
)

func TestPlanShowsTheConnectionsOverlay(t *testing.T) {
	_, blocks := renderPlan(&chat.PlanView{Runbook: "mimir-region-failover", PlanHash: "0123456789abcdef",
		Overlay: "lab (runbooks/overlays/lab.yaml): dr_cluster.context=<lab-dr>"})
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "*Connections overlay* lab (runbooks/overlays/lab.yaml): dr_cluster.context=\\u0026lt;lab-dr\\u0026gt;") {
		t.Errorf("blocks: %s", b)
	}
}
