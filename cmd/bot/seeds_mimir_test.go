package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// The Mimir failover seed, whole, from the console against the full lab
// with the primary region down as `bot lab fail stop` takes it down. One
// step cannot run outside a cluster and is skipped by the operator, as
// the test asserts: sentinels_monitor names, in its own fields, the
// in-cluster master address redis-0.redis-service:6379, which no overlay
// changes and no Sentinel on this machine can resolve.
func TestSeedMimirFailover(t *testing.T) {
	l := seedLab(t)
	dir := t.TempDir()
	ctx := context.Background()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		t.Fatal(err)
	}
	out := consoleLines(t, l, dir, mimirFailoverScript)
	wantSaid(t, out, "SENTINEL MONITOR: ERR Invalid IP address or hostname specified", "✓ primary_region_status", "✓ primary_cluster_down", "✓ primary_api_down", "✓ primary_health_check",
		"✓ dr_pods_ready", "✓ dr_replication_lag", "✓ dr_backups_recent")
	run, states := lastRun(t, dir, "mimir-region-failover")
	wantAllDone(t, run, states, "force_promote", "restore_from_backup", "sentinels_monitor")
	if s := states["sentinels_monitor"]; s == nil || s.Status != "skipped" {
		t.Errorf("sentinels_monitor: %+v, want skipped by the operator", s)
	}
	env := l.Env()
	conn, err := pgx.Connect(ctx, env["LAB_PG_STANDBY_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || inRecovery {
		t.Errorf("the DR PostgreSQL: in recovery %v (%v), want promoted", inRecovery, err)
	}
	dc := kubeClient(t, l, lab.KubeDRContext)
	wantDeployments(t, dc, "dr", "mimir", map[string]int32{"mimir-api": 3, "mimir-worker": 3, "mimir-analytics": 2, "mimir-web": 2})
	wantDeployments(t, dc, "dr", "kube-system", map[string]int32{"cluster-autoscaler": 1})
	svc, err := dc.CoreV1().Services("mimir").Get(ctx, "postgres-primary-service", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["app.kubernetes.io/role"] != "standby" {
		t.Errorf("postgres-primary-service selects %v (%v), want the promoted standby", svc.Spec.Selector, err)
	}
	dr := awsClient(t, l, awstest.DRRegion)
	zone := l.AWSSeeds().Mimir.ZoneID
	for name, lb := range map[string]string{awstest.MimirAPIName: lab.LoadBalancer("dr", "mimir", "mimir-api-service"), awstest.MimirAppName: lab.LoadBalancer("dr", "mimir", "mimir-web-service")} {
		rs := recordSets(t, dr, zone, name, "CNAME")
		if r := rs[""]; len(rs) != 1 || len(r.ResourceRecords) != 1 || *r.ResourceRecords[0].Value != lb {
			t.Errorf("%s: %+v, want a CNAME to the DR load balancer %s", name, rs, lb)
		}
	}
	wantChangesInsync(t, dr, []string{states["dns_api"].Outputs["changeId"], states["dns_app"].Outputs["changeId"]})
}
