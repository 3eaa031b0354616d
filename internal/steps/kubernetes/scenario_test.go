package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws"
	"github.com/failoverbot/failoverbot/internal/steps/gate"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
	"github.com/failoverbot/failoverbot/internal/steps/postgres"
	"github.com/failoverbot/failoverbot/internal/steps/redis"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// seedRegistry is builtin.Registry (which this package cannot import: it
// imports this package).
func seedRegistry(t testing.TB) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry()
	if err := errors.Join(postgres.Register(r), redis.Register(r), httpcheck.Register(r), Register(r), aws.Register(r), gate.Register(r)); err != nil {
		t.Fatal(err)
	}
	return r
}

// seedRunbook loads a shipped seed runbook, as shipped, with the shipped
// lab overlay (runbooks/overlays/lab.yaml), and leaves out its steps that
// are not Kubernetes steps: they are built as a check that is done at
// once ("not run in this test"), so that the run's graph, needs,
// alternatives and conditions stay the runbook's. The AWS, PostgreSQL,
// Redis, HTTP and gate steps are others' tests.
func seedRunbook(t *testing.T, name string) *runbook.Runbook {
	t.Helper()
	reg := seedRegistry(t)
	overlay, err := runbook.LoadOverlay("../../../runbooks/overlays/lab.yaml", reg)
	if err != nil {
		t.Fatal(err)
	}
	// The seeds' ${env:…} and ${secret:…}: lab values.
	lookup := func(k string) (string, bool) {
		switch {
		case strings.HasPrefix(k, "FAILOVER_RB_"), strings.HasPrefix(k, "FAILOVER_SECRET_"):
			return "lab-" + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(k, "FAILOVER_RB_"), "FAILOVER_SECRET_")), true
		}
		return "", false
	}
	res := &secret.Resolver{Lookup: lookup, Redactor: &secret.Redactor{}}
	rb, err := runbook.Load(filepath.Join("../../../runbooks", name+".yaml"), reg, runbook.WithOverlay(overlay),
		runbook.WithSecrets(res), runbook.WithEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	if d := rb.OverlayDescription(); !strings.HasPrefix(d, "lab (") {
		t.Fatalf("%s: the lab overlay did not apply: %q", name, d)
	}
	for _, s := range append(append([]*runbook.Step{}, rb.Assess...), rb.AllSteps()...) {
		if strings.HasPrefix(s.Kind, "kubernetes.") {
			continue
		}
		k, _ := reg.Kind(s.Kind)
		s.Factory = notRun(s.Kind, k.Outputs())
	}
	return rb
}

// notRun builds a check that is done at once, with the kind's outputs empty.
func notRun(kind string, outputs []string) runbook.Factory {
	return runbook.FactoryFunc(func(context.Context, runbook.Vars) (steps.Probe, error) {
		out := map[string]string{}
		for _, o := range outputs {
			out[o] = ""
		}
		return doneProbe{steps.Result{Done: true, Summary: kind + ": not run in this test (not a Kubernetes step)", Outputs: out}}, nil
	})
}

type doneProbe struct{ r steps.Result }

func (d doneProbe) Check(context.Context) (steps.Result, error) { return d.r, nil }

// seedRun assesses and runs a runbook through the executor, approved by
// two approvers, and returns its step states by ID. The run must succeed.
func seedRun(t *testing.T, rb *runbook.Runbook, params map[string]string) map[string]*store.StepState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ex, err := executor.New(executor.Config{Store: st, Owner: "seed-test", PollInterval: 100 * time.Millisecond, MaxPollInterval: time.Second,
		RetryBackoff: 200 * time.Millisecond, MaxRetryBackoff: 2 * time.Second, Runbooks: func(string) (*runbook.Runbook, error) { return rb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ex.Close(context.Background()) })
	assessment := ex.Planner().Assess(ctx, rb)
	for _, c := range assessment.Checks {
		if !c.OK {
			t.Errorf("%s: assess %s: %s %s", rb.Name, c.ID, c.Summary, c.Error)
		} else if s := rb.Assess[indexOf(rb.Assess, c.ID)]; strings.HasPrefix(s.Kind, "kubernetes.") {
			t.Logf("%s: assess %s: %s", rb.Name, c.ID, c.Summary)
		}
	}
	bound, err := rb.BindParams(params)
	if err != nil {
		t.Fatal(err)
	}
	run, err := ex.Request(ctx, executor.RunRequest{Runbook: rb, Params: bound, PlanHash: rb.PlanHash(bound), Requester: "oncall-1"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := ex.Approve(ctx, run.ID, rb, []string{"oncall-2", "oncall-3"}); err != nil {
		t.Fatal(err)
	}
	if err := ex.Wait(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*store.StepState{}
	for _, s := range list {
		out[s.StepID] = s
	}
	kube := 0
	for _, s := range rb.AllSteps() {
		ss := out[s.ID]
		if ss == nil || !strings.HasPrefix(s.Kind, "kubernetes.") {
			continue
		}
		kube++
		t.Logf("%s: %-26s %-9s %s", rb.Name, s.ID, ss.Status, firstLine(ss.Summary))
		if ss.Error != "" {
			t.Logf("    error: %s", ss.Error)
		}
	}
	if got.State != store.RunSucceeded {
		t.Fatalf("%s: run %s is %s (%s)", rb.Name, run.ID, got.State, got.StateReason)
	}
	t.Logf("%s: %d Kubernetes steps run in %s", rb.Name, kube, time.Since(start).Round(time.Millisecond))
	return out
}

func indexOf(list []*runbook.Step, id string) int {
	for i, s := range list {
		if s.ID == id {
			return i
		}
	}
	return 0
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// done asserts that the steps ran and are done (not skipped, not left out).
func done(t *testing.T, states map[string]*store.StepState, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if s := states[id]; s == nil || s.Status != store.StepDone {
			t.Errorf("step %s: %+v, want done", id, s)
		}
	}
}

// TestSeedRunbooksAgainstTheLab runs the Kubernetes steps of the shipped
// seed runbooks — mimir-region-failover, maip-region-failover,
// mimir-failback, maip-failback, the files as shipped, with the shipped
// lab overlay — through the executor against two real clusters: the
// primary's API server is killed before the failovers (`bot lab fail
// stop`) and restarted before the failbacks.
func TestSeedRunbooksAgainstTheLab(t *testing.T) {
	l := startSeedLab(t)
	for _, region := range []string{"primary", "dr"} {
		l.mimir(t, region)
		l.maip(t, region)
	}
	// The DR region runs metrics-server (the post-failover `kubectl top`).
	fakeMetricsAPIIn(t, l.dr, "kube-system", func(string) (string, string) { return "150m", "256Mi" })
	// The primary region was serving: its applications run.
	for _, app := range mimirApps {
		scaleTo(t, l, "primary", "mimir", app, 2)
	}

	if err := l.primary.KillAPIServer(); err != nil { // bot lab fail stop
		t.Fatal(err)
	}
	t.Run("mimir-region-failover", func(t *testing.T) {
		s := seedRun(t, seedRunbook(t, "mimir-region-failover"), nil)
		done(t, s, "scale_autoscaler", "dr_secrets_present", "dr_pv_present", "dr_pvc_bound", "patch_db_service", "patch_config",
			"scale_api", "scale_worker", "scale_analytics", "scale_web", "wait_pods_ready", "dr_api_lb", "dr_web_lb", "db_connectivity",
			"api_logs", "pod_events", "services_present", "pod_metrics", "recent_events", "data_validation", "backup_cronjobs")
		for app, n := range map[string]int32{"mimir-api": 3, "mimir-worker": 3, "mimir-analytics": 2, "mimir-web": 2} {
			waitIn(t, l, "dr", "mimir", app, rolledOut(n))
		}
		waitIn(t, l, "dr", "kube-system", "cluster-autoscaler", rolledOut(1))
		if s["scale_api"].Outputs["previous"] != "0" {
			t.Errorf("scale_api outputs %v", s["scale_api"].Outputs)
		}
		if h := s["dr_api_lb"].Outputs["hostname"]; h != "mimir-api-service-mimir.dr.elb.example.com" {
			t.Errorf("the DR API load balancer: %q", h)
		}
		cm, err := l.dc.CoreV1().ConfigMaps("mimir").Get(ctxT(t, 5*time.Second), "mimir-config", metav1.GetOptions{})
		if err != nil || cm.Data["REGION"] != "us-west-2" || cm.Data["ENVIRONMENT"] != "dr-production" {
			t.Errorf("mimir-config: %v, %v", cm.Data, err)
		}
		svc, err := l.dc.CoreV1().Services("mimir").Get(ctxT(t, 5*time.Second), "postgres-primary-service", metav1.GetOptions{})
		if err != nil || svc.Spec.Selector["app.kubernetes.io/role"] != "standby" {
			t.Errorf("postgres-primary-service selects %v, %v", svc.Spec.Selector, err)
		}
		if !strings.Contains(s["api_logs"].Summary, "  listening on :8080") || !strings.Contains(s["pod_metrics"].Summary, "highest cpu 150m") {
			t.Errorf("api_logs %q\npod_metrics %q", s["api_logs"].Summary, s["pod_metrics"].Summary)
		}
		if s["force_promote"] != nil && s["force_promote"].Status == store.StepDone {
			t.Errorf("force_promote ran although promote_db did not fail")
		}
	})
	t.Run("maip-region-failover", func(t *testing.T) {
		s := seedRun(t, seedRunbook(t, "maip-region-failover"), nil)
		done(t, s, "primary_nodes_not_ready", "scale_deployments", "dr_pods_ready", "dr_services")
		for _, app := range []string{"maip-api", "maip-ingest"} {
			waitIn(t, l, "dr", "maip-services", app, rolledOut(4))
		}
		if p := s["scale_deployments"].Outputs["previous"]; p != "maip-api=0,maip-ingest=0" {
			t.Errorf("previous replicas %q", p)
		}
	})

	restart(t, l) // bot lab restore: the primary region is back
	t.Run("mimir-failback", func(t *testing.T) {
		s := seedRun(t, seedRunbook(t, "mimir-failback"), nil)
		done(t, s, "primary_nodes_ready", "primary_basebackup", "primary_redis_replica", "primary_config", "primary_scale_api",
			"primary_scale_worker", "primary_scale_analytics", "primary_scale_web", "primary_pods_ready", "primary_api_lb", "primary_web_lb",
			"dr_api_lb", "dr_web_lb", "scale_down_dr", "revert_dr_db_service", "primary_db_connectivity", "primary_data_validation", "primary_backup_cronjobs")
		if !exists(filepath.Join(l.primaryRoot, "tmp/restore/backup_manifest")) || !exists(filepath.Join(l.primaryRoot, "redis-role")) {
			t.Errorf("the base backup or the Redis replica was not made in the primary region")
		}
		for app, n := range map[string]int32{"mimir-api": 3, "mimir-worker": 3, "mimir-analytics": 2, "mimir-web": 2} {
			waitIn(t, l, "primary", "mimir", app, rolledOut(n))
			waitIn(t, l, "dr", "mimir", app, rolledOut(0))
		}
		if p := s["scale_down_dr"].Outputs["previous"]; p != "mimir-analytics=2,mimir-api=3,mimir-web=2,mimir-worker=3" {
			t.Errorf("the DR replicas before the scale-down: %q", p)
		}
		svc, err := l.dc.CoreV1().Services("mimir").Get(ctxT(t, 5*time.Second), "postgres-primary-service", metav1.GetOptions{})
		if err != nil || svc.Spec.Selector["app.kubernetes.io/role"] != "primary" {
			t.Errorf("DR postgres-primary-service selects %v, %v", svc.Spec.Selector, err)
		}
	})
	t.Run("maip-failback", func(t *testing.T) {
		s := seedRun(t, seedRunbook(t, "maip-failback"), nil)
		done(t, s, "primary_nodes_ready", "scale_primary_deployments", "primary_pods_ready", "scale_down_dr_deployments")
		for _, app := range []string{"maip-api", "maip-ingest"} {
			waitIn(t, l, "primary", "maip-services", app, rolledOut(4))
			waitIn(t, l, "dr", "maip-services", app, rolledOut(0))
		}
	})
}

// restart brings the primary API server back (bot lab restore).
func restart(t *testing.T, l *seedLab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := l.primary.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
}

func scaleTo(t *testing.T, l *seedLab, region, ns, name string, n int32) {
	t.Helper()
	c := l.client(region)
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
	if _, err := c.AppsV1().Deployments(ns).Patch(ctxT(t, 5*time.Second), name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIn(t, l, region, ns, name, rolledOut(n))
}

// waitIn is waitDeployment in a region's cluster.
func waitIn(t *testing.T, l *seedLab, region, ns, name string, f func(*appsv1.Deployment) bool) {
	t.Helper()
	c := l.client(region)
	ctx := ctxT(t, 30*time.Second)
	for {
		d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil && f(d) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: deployment %s/%s: %+v, %v", region, ns, name, statusOf(d), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func statusOf(d *appsv1.Deployment) any {
	if d == nil {
		return nil
	}
	return d.Status
}
