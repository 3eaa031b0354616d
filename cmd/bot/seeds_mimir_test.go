package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// The Mimir seeds, whole, from the console against the full lab:
// mimir-region-failover with the primary region down as `bot lab fail
// stop` takes it down, then, the region restored, mimir-failback with its
// gates answered as the people they ask would (mimirFailback). The end
// state is read with the real clients (pgx, client-go, go-redis, the AWS
// SDK), not through the bot.
func TestSeedMimirFailoverAndFailback(t *testing.T) {
	l := seedLab(t)
	dir := t.TempDir()
	ctx := context.Background()
	if err := l.FailPrimary(ctx, lab.FailStop); err != nil {
		t.Fatal(err)
	}
	out := consoleScript(t, l, dir, mimirFailoverScript)
	wantSaid(t, out, "✓ primary_region_status", "✓ primary_cluster_down", "✓ primary_api_down", "✓ primary_health_check",
		"✓ dr_pods_ready", "✓ dr_replication_lag", "✓ dr_backups_recent")
	run, states := lastRun(t, dir, "mimir-region-failover")
	wantAllDone(t, run, states, "force_promote", "restore_from_backup")
	env := l.Env()
	// Every Sentinel monitors mymaster at redis-0.redis-service:6379, the
	// step's own address, which is the DR Redis: its run id, master role.
	wantSentinelsMaster(t, env["LAB_REDIS_SENTINELS"], "mymaster", "redis-0.redis-service", env["LAB_REDIS_DR_ADDR"], env["LAB_REDIS_PASSWORD"])
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
	if t.Failed() {
		return
	}
	mimirFailback(t, l, dir)
}

// wantSentinelsMaster checks, on each Sentinel of the list, that master
// name is host:6379 (SENTINEL GET-MASTER-ADDR-BY-NAME), flagged master, and
// that it is the Redis at addr: the run id the Sentinel saw is that
// server's, and the server says it is a master.
func wantSentinelsMaster(t *testing.T, sentinels, name, host, addr, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc := goredis.NewClient(&goredis.Options{Addr: addr, Password: password, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer rc.Close()
	info, err := rc.Info(ctx, "server", "replication").Result()
	if err != nil {
		t.Fatalf("INFO of %s: %v", addr, err)
	}
	runID := infoField(info, "run_id")
	if role := infoField(info, "role"); role != "master" {
		t.Errorf("the Redis at %s is a %s, want the master", addr, role)
	}
	for _, sa := range strings.Split(sentinels, ",") {
		sc := goredis.NewSentinelClient(&goredis.Options{Addr: sa, DialTimeout: time.Second, ReadTimeout: time.Second})
		got, err := sc.GetMasterAddrByName(ctx, name).Result()
		m, merr := sc.Master(ctx, name).Result()
		sc.Close()
		if err != nil || merr != nil {
			t.Errorf("sentinel %s: %v %v", sa, err, merr)
			continue
		}
		if len(got) != 2 || got[0] != host || got[1] != "6379" {
			t.Errorf("sentinel %s: master %s is %v, want %s 6379", sa, name, got, host)
		}
		if m["flags"] != "master" || m["runid"] != runID {
			t.Errorf("sentinel %s: master %s flags %q run id %q, want master with the run id of %s (%s)", sa, name, m["flags"], m["runid"], addr, runID)
		}
	}
}

// infoField is a field of an INFO reply.
func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}
