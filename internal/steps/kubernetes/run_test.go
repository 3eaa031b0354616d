package kubernetes

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// A run whose service account may not patch deployments pauses at the
// scale, with the forbidden error (verb, resource, service account) for
// the operator; nothing is retried.
func TestForbiddenScalePausesTheRun(t *testing.T) {
	ns := kubetest.Namespace(t)
	deployment(t, ns, "mimir-api", 1, nil)
	kc := serviceAccount(t, ns, "failover-bot", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}})
	src := `name: rbac
approval: {required: 0}
connections:
  dr_cluster: {type: kubernetes, kubeconfig: "` + kc + `"}
phases:
  - id: apps
    steps:
      - {id: scale_api, kind: kubernetes.scale, connection: dr_cluster, timeout: 1m, with: {namespace: ` + ns + `, name: mimir-api, replicas: 3}}
`
	start := time.Now()
	got, s := runOne(t, src, nil)
	want := "forbidden: system:serviceaccount:" + ns + ":failover-bot may not patch deployments.apps in namespace " + ns
	if got.State != store.RunPaused || s.Status != store.StepFailed || !strings.Contains(s.Error, want) || s.Attempts != 1 {
		t.Errorf("run %s (%s); step %s after %d attempts: %s\nwant paused, failed with %q", got.State, got.StateReason, s.Status, s.Attempts, s.Error, want)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the forbidden scale took %s to pause the run: it was retried", took)
	}
}

// runOne runs a one-step runbook through the executor (no approvals) and
// returns the run and its step once the run stops; during, if set, is
// called once the step waits.
func runOne(t *testing.T, src string, during func()) (*store.Run, *store.StepState) {
	t.Helper()
	rb, err := runbook.Parse("run.yaml", []byte(src), seedRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ex, err := executor.New(executor.Config{Store: st, Owner: "run-test", PollInterval: 100 * time.Millisecond, MaxPollInterval: time.Second,
		RetryBackoff: 100 * time.Millisecond, MaxRetryBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close(context.Background()) })
	run, err := ex.Request(ctx, executor.RunRequest{Runbook: rb, PlanHash: rb.PlanHash(nil), Requester: "oncall-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Approve(ctx, run.ID, rb, nil); err != nil {
		t.Fatal(err)
	}
	if during != nil {
		for {
			states, err := st.Steps(ctx, run.ID)
			if err == nil && len(states) == 1 && (states[0].Status == store.StepWaiting || states[0].Status == store.StepApplying) && states[0].Attempts == 1 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("the step never waited")
			case <-time.After(20 * time.Millisecond):
			}
		}
		during()
	}
	if err := ex.Wait(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	states, err := st.Steps(ctx, run.ID)
	if err != nil || len(states) != 1 {
		t.Fatal(states, err)
	}
	return got, states[0]
}
