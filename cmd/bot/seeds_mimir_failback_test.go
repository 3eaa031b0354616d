package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// mimirFailbackScript runs mimir-failback from the console: the start and
// its two approvals, then the gates in the order the run reaches them —
// restore_primary (the test restored the region before the start; the
// bot then runs primary_basebackup's pg_basebackup in postgres-0),
// primary_pg_standby (the person restarts postgres-0 on the base backup),
// write_path_during_shift (two sign-offs), reseed_dr (the person rebuilds
// the DR standby and Redis replica).
const mimirFailbackScript = `/failover assess mimir-failback
/failover start mimir-failback the primary region is back (seed test)
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/approve last --as oncall-2
/wait last
# person
/approve last --as oncall-2
/wait last
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
# person
/approve last --as oncall-2
/wait last
/failover status last
`

// mimirFailback restores the primary region of l after the Mimir failover
// and runs mimir-failback whole, then checks the end state: postgres-0 the
// writer with the DR standby streaming from it, the primary's redis-0 the
// master per every primary-region Sentinel with the DR Redis its replica,
// the weighted records at 100/0 and INSYNC, the deployments at the
// runbook's sizes in each cluster.
func mimirFailback(t *testing.T, l *lab.Lab, dir string) {
	t.Helper()
	ctx := context.Background()
	before := changesSeen(l)
	sentinelLogs := logOffsets(t, filepath.Join(l.Dir(), "sentinel-*.log"))
	start := time.Now()
	if err := l.RestorePrimary(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("primary region restored in %s", time.Since(start).Round(time.Millisecond))
	person := func(name string, do func(context.Context) error) func() {
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := do(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	out := consoleScript(t, l, dir, mimirFailbackScript,
		person("restart postgres-0 on the base backup", l.StartPrimaryOnBaseBackup),
		person("re-seed the DR region", l.ReseedDR))
	wantSaid(t, out, "✓ primary_region_up", "✓ primary_cluster_up", "✓ dr_serving", "✓ dr_db_is_writer", "Your approval of gate reseed_dr",
		"✓ primary_basebackup — check test -f /tmp/restore/backup_manifest in mimir/postgres-0 (main): exit 0")
	// The bot ran pg_basebackup itself: its Check found no backup first.
	if strings.Contains(out, "primary_basebackup — already done") {
		t.Error("primary_basebackup was done before the bot applied it")
	}
	run, states := lastRun(t, dir, "mimir-failback")
	wantAllDone(t, run, states)
	env := l.Env()

	primary := pgConn(t, env["LAB_PG_PRIMARY_DSN"])
	var inRecovery bool
	if err := primary.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || inRecovery {
		t.Errorf("postgres-0: in recovery %v (%v), want the writer", inRecovery, err)
	}
	var streaming int
	if err := primary.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").Scan(&streaming); err != nil || streaming != 1 {
		t.Errorf("postgres-0: %d standbys streaming (%v), want the DR one", streaming, err)
	}
	standby := pgConn(t, env["LAB_PG_STANDBY_DSN"])
	var status string
	if err := standby.QueryRow(ctx, "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)").Scan(&inRecovery, &status); err != nil || !inRecovery || status != "streaming" {
		t.Errorf("the DR PostgreSQL: in recovery %v, WAL receiver %q (%v); want a streaming standby", inRecovery, status, err)
	}

	defer func() {
		if t.Failed() {
			logSentinels(t, l)
		}
	}()
	// The primary region's Sentinels, as primary_sentinels set them, and
	// the DR region's, as dr_sentinels did, both before the promotion: all
	// six see the primary's redis-0 as the master (the DR ones by its
	// address across the regions).
	wantSentinelsMaster(t, env["LAB_REDIS_PRIMARY_SENTINELS"], "mymaster", "redis-0.redis-service", env["LAB_REDIS_PRIMARY_ADDR"], env["LAB_REDIS_PASSWORD"])
	wantSentinelsMaster(t, env["LAB_REDIS_SENTINELS"], "mymaster", env["MIMIR_PRIMARY_REDIS_ENDPOINT"], env["LAB_REDIS_PRIMARY_ADDR"], env["LAB_REDIS_PASSWORD"])
	if role := redisRole(t, env["LAB_REDIS_PRIMARY_ADDR"], env["LAB_REDIS_PASSWORD"]); role != "master" {
		t.Errorf("the primary Redis is a %s, want the master", role)
	}
	// Nor did any of them, at any time in the failback, mark mymaster
	// down, fail it over on their own or turn the promoted redis-0 back
	// into a replica.
	for _, line := range logLinesSince(t, sentinelLogs) {
		for _, event := range []string{"+sdown master mymaster ", "+try-failover master mymaster ", "+switch-master mymaster "} {
			if strings.Contains(line, event) || (strings.Contains(line, "+convert-to-slave") && strings.Contains(line, "@ mymaster ")) {
				t.Errorf("a Sentinel during the failback: %s", line)
				break
			}
		}
	}
	if role := redisRole(t, env["LAB_REDIS_DR_ADDR"], env["LAB_REDIS_PASSWORD"]); role != "slave" {
		t.Errorf("the DR Redis is a %s, want a replica of the primary", role)
	}

	dr := awsClient(t, l, awstest.DRRegion)
	zone := l.AWSSeeds().Mimir.ZoneID
	var changes []string
	for name, svc := range map[string]string{awstest.MimirAPIName: "mimir-api-service", awstest.MimirAppName: "mimir-web-service"} {
		rs := recordSets(t, dr, zone, name, "CNAME")
		p, d := rs["primary"], rs["dr"]
		if len(rs) != 2 || aws.ToInt64(p.Weight) != 100 || aws.ToInt64(d.Weight) != 0 || len(p.ResourceRecords) != 1 ||
			aws.ToString(p.ResourceRecords[0].Value) != lab.LoadBalancer("primary", "mimir", svc) {
			t.Errorf("%s: %+v, want primary 100 (the primary load balancer), dr 0", name, rs)
		}
	}
	// Every change since the failback started (the weighted shift's
	// stages), as the local AWS saw them, is INSYNC by GetChange.
	for id := range changesSeen(l) {
		if !before[id] {
			changes = append(changes, id)
		}
	}
	if len(changes) < 8 {
		t.Errorf("%d Route 53 changes during the failback, want at least the 4 stages of each of the 2 shifts", len(changes))
	}
	wantChangesInsync(t, dr, changes)

	apps := map[string]int32{"mimir-api": 3, "mimir-worker": 3, "mimir-analytics": 2, "mimir-web": 2}
	wantDeployments(t, kubeClient(t, l, lab.KubePrimaryContext), "primary", "mimir", apps)
	for name := range apps {
		apps[name] = 0
	}
	dc := kubeClient(t, l, lab.KubeDRContext)
	wantDeployments(t, dc, "dr", "mimir", apps)
	svc, err := dc.CoreV1().Services("mimir").Get(ctx, "postgres-primary-service", metav1.GetOptions{})
	if err != nil || svc.Spec.Selector["app.kubernetes.io/role"] != "primary" {
		t.Errorf("dr postgres-primary-service selects %v (%v), want the primary role again", svc.Spec.Selector, err)
	}
}

// pgConn connects to dsn, closed when the test ends.
func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// changesSeen are the ids of the Route 53 changes the local AWS has seen.
func changesSeen(l *lab.Lab) map[string]bool {
	seen := map[string]bool{}
	for _, tr := range l.AWSServer().AllTransitions() {
		if tr.Resource.Kind == awstest.KindChange {
			seen[tr.Resource.Name] = true
		}
	}
	return seen
}

// redisRole is ROLE's first field at addr.
func redisRole(t *testing.T, addr, password string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc := goredis.NewClient(&goredis.Options{Addr: addr, Password: password, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer rc.Close()
	info, err := rc.Info(ctx, "replication").Result()
	if err != nil {
		t.Errorf("INFO of %s: %v", addr, err)
		return ""
	}
	return infoField(info, "role")
}

// logOffsets are the sizes of the files matching pattern, to read what
// is written to them from now on (logLinesSince).
func logOffsets(t *testing.T, pattern string) map[string]int64 {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no log matches %s (%v)", pattern, err)
	}
	offsets := map[string]int64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		offsets[p] = fi.Size()
	}
	return offsets
}

// logLinesSince are the lines written to each file after its offset.
func logLinesSince(t *testing.T, offsets map[string]int64) []string {
	t.Helper()
	var lines []string
	for p, off := range offsets {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b[min(off, int64(len(b))):]), "\n") {
			if line != "" {
				lines = append(lines, filepath.Base(p)+": "+line)
			}
		}
	}
	return lines
}

// logSentinels logs the end of each Sentinel's log (on failure).
func logSentinels(t *testing.T, l *lab.Lab) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(l.Dir(), "sentinel-*.log"))
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		t.Logf("%s:\n%s", filepath.Base(p), strings.Join(lines[max(0, len(lines)-25):], "\n"))
	}
}
