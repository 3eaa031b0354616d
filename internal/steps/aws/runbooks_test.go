package aws_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
	awskinds "github.com/failoverbot/failoverbot/internal/steps/aws"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
	"github.com/failoverbot/failoverbot/internal/steps/gate"
	"github.com/failoverbot/failoverbot/internal/steps/httpcheck"
	"github.com/failoverbot/failoverbot/internal/steps/kubernetes"
	"github.com/failoverbot/failoverbot/internal/steps/postgres"
	"github.com/failoverbot/failoverbot/internal/steps/redis"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

const runbooksDir = "../../../runbooks"

// testScale shrinks the local AWS's real-world delays and the kinds' own
// waits (cadence, the shifts' 10-minute holds) alike: a 90 s promotion
// takes 180 ms, a 10 m hold 1.2 s.
const testScale = 0.002

// registry is builtin.Registry with the AWS kinds' waits scaled.
func registry(t testing.TB, scale float64) *steps.Registry {
	t.Helper()
	r := steps.NewRegistry()
	if err := errors.Join(postgres.Register(r), redis.Register(r), httpcheck.Register(r), kubernetes.Register(r),
		awskinds.Options{TimeScale: scale}.Register(r), gate.Register(r)); err != nil {
		t.Fatal(err)
	}
	want, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Kinds(), want.Kinds()) {
		t.Fatalf("the test registry drifted from builtin.Registry:\n%v\n%v", r.Kinds(), want.Kinds())
	}
	return r
}

// world is the local AWS with both seeds, the process environment pointing
// the SDK's default chain at it (the runbooks' aws connections name only a
// region: the chain gives the endpoint and credentials, as it gives IRSA's
// in production), and the runbooks' ${env:…} from the seeds.
type world struct {
	*awstest.Server
	maip  awstest.MAIP
	mimir awstest.Mimir
	env   map[string]string
	reg   *steps.Registry
}

func newWorld(t testing.TB, scale float64) *world {
	t.Helper()
	s, err := awstest.Start(context.Background(), awstest.Options{TimeScale: scale})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	w := &world{Server: s, reg: registry(t, scale)}
	if w.maip, err = awstest.SeedMAIP(s); err != nil {
		t.Fatal(err)
	}
	if w.mimir, err = awstest.SeedMimir(s); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for k, v := range map[string]string{"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": ""} {
		t.Setenv(k, v)
	}
	for k, v := range s.Env(awstest.DRRegion) {
		if k != "AWS_REGION" { // each connection has its own
			t.Setenv(k, v)
		}
	}
	w.env = map[string]string{}
	maps.Copy(w.env, w.maip.Env())
	maps.Copy(w.env, w.mimir.Env())
	return w
}

// load loads a shipped runbook with the real loader.
func (w *world) load(t testing.TB, name string) *runbook.Runbook {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := w.env[k]; return v, ok }
	rb, err := runbook.Load(filepath.Join(runbooksDir, name), w.reg, runbook.WithEnv(lookup),
		runbook.WithSecrets(&secret.Resolver{Lookup: lookup, Redactor: &secret.Redactor{}}))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return rb
}

// awsOnly is rb reduced to its AWS steps (and their dependencies among
// them); standIns replace the steps of other systems whose outputs they use
// by probes answering those outputs; drop names AWS steps that wait for a
// person.
func awsOnly(rb *runbook.Runbook, standIns map[string]map[string]string, drop ...string) *runbook.Runbook {
	out := &runbook.Runbook{Name: rb.Name, Description: rb.Description, Regions: rb.Regions, Connections: rb.Connections, Approval: runbook.ApprovalPolicy{}}
	keep := func(s *runbook.Step) bool {
		_, stand := standIns[s.ID]
		return (strings.HasPrefix(s.Kind, "aws.") || stand) && !slices.Contains(drop, s.ID)
	}
	ids := map[string]bool{}
	for _, p := range rb.Phases {
		for _, s := range p.Steps {
			if keep(s) {
				ids[s.ID] = true
			}
		}
	}
	for _, p := range rb.Phases {
		np := &runbook.Phase{ID: p.ID, Name: p.Name}
		for _, s := range p.Steps {
			if !keep(s) {
				continue
			}
			cp := *s
			cp.Needs = slices.DeleteFunc(slices.Clone(s.Needs), func(id string) bool { return !ids[id] })
			if o, ok := standIns[s.ID]; ok {
				cp.Kind, cp.ReadOnly, cp.Connection, cp.When = "test.standIn", true, "", nil
				cp.Factory = runbook.FactoryFunc(func(context.Context, runbook.Vars) (steps.Probe, error) { return standIn(o), nil })
			}
			np.Steps = append(np.Steps, &cp)
		}
		if len(np.Steps) > 0 {
			out.Phases = append(out.Phases, np)
		}
	}
	for _, s := range rb.Assess {
		if strings.HasPrefix(s.Kind, "aws.") {
			out.Assess = append(out.Assess, s)
		}
	}
	return out
}

// standIn is a step of another system (a Kubernetes service's address)
// reduced to the outputs it gives.
type standIn map[string]string

func (s standIn) Check(context.Context) (steps.Result, error) {
	return steps.Result{Done: true, Summary: "stand-in", Outputs: s}, nil
}

// run runs rb's phases through the executor and returns the step states.
func run(t *testing.T, rb *runbook.Runbook) map[string]*store.StepState {
	t.Helper()
	out, _ := runWith(t, rb, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	return out
}

// runWith runs rb through the executor logging to log; it returns the step
// states and how long the run took.
func runWith(t testing.TB, rb *runbook.Runbook, log *slog.Logger) (map[string]*store.StepState, time.Duration) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hash := func(*runbook.Runbook, map[string]string) string { return "plan-" + rb.Name }
	ex, err := executor.New(executor.Config{Store: st, Owner: "awskinds-test", PlanHash: hash,
		Logger:       log,
		PollInterval: 20 * time.Millisecond, MaxPollInterval: 200 * time.Millisecond, RetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(ctx)
	id := fmt.Sprintf("%s-%d", rb.Name, time.Now().UnixNano())
	if err := st.CreateRun(ctx, &store.Run{ID: id, Runbook: rb.Name, PlanHash: hash(rb, nil), State: store.RunPending, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := ex.Start(ctx, id, rb); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := ex.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	r, err := st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.Steps(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*store.StepState{}
	for _, s := range list {
		out[s.StepID] = s
		t.Logf("%-28s %-8s %s", s.StepID, s.Status, s.Summary)
	}
	if r.State != store.RunSucceeded {
		t.Fatalf("run %s is %s: %s", rb.Name, r.State, r.StateReason)
	}
	t.Logf("%s: %d AWS steps in %s", rb.Name, len(list), took.Round(time.Millisecond))
	return out, took
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// assess runs rb's AWS assessment checks at once.
func assess(t *testing.T, rb *runbook.Runbook) map[string]executor.Check {
	t.Helper()
	a := (&executor.Planner{}).Assess(context.Background(), rb)
	out := map[string]executor.Check{}
	for _, c := range a.Checks {
		out[c.ID] = c
		t.Logf("assess %-28s ok %-5v %s %s", c.ID, c.OK, c.Summary, c.Error)
	}
	return out
}

func TestMAIPRunbooksFailOverAndBackOnTheLocalAWS(t *testing.T) {
	w := newWorld(t, testScale)
	ctx := context.Background()
	failover := awsOnly(w.load(t, "maip-region-failover.yaml"), nil)

	// us-east-1 is gone: its APIs do not answer, its load balancer fails.
	restore := w.RegionOutage(awstest.PrimaryRegion)
	checks := assess(t, failover)
	for id, ok := range map[string]bool{"primary_rds_down": true, "dr_replica_available": true, "dynamodb_replicas": true,
		"dynamodb_replication_latency": false, "msk_replicators": true} {
		if checks[id].OK != ok {
			t.Errorf("assess %s: ok %v, want %v (%s %s)", id, checks[id].OK, ok, checks[id].Summary, checks[id].Error)
		}
	}
	states := run(t, failover)
	if o := states["promote_replica"].Outputs; o["port"] != "5432" || !strings.HasPrefix(o["endpoint"], awstest.MAIPDRReplica+".") {
		t.Errorf("promote outputs %v", o)
	}
	dr := rds.NewFromConfig(w.AWSConfig(awstest.DRRegion))
	db, err := dr.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPDRReplica)})
	if err != nil {
		t.Fatal(err)
	}
	if d := db.DBInstances[0]; aws.ToString(d.DBInstanceStatus) != "available" || d.ReadReplicaSourceDBInstanceIdentifier != nil || aws.ToInt32(d.BackupRetentionPeriod) != 7 {
		t.Errorf("the DR database: %s, source %v, backups %d; want a promoted writer", aws.ToString(d.DBInstanceStatus), d.ReadReplicaSourceDBInstanceIdentifier, aws.ToInt32(d.BackupRetentionPeriod))
	}
	wantNodegroup(t, w, awstest.DRRegion, awstest.MAIPDRCluster, awstest.MAIPDRNodes, [3]int32{4, 20, 8})
	api := apiRecords(t, w)
	if r := api[""]; len(api) != 1 || r.AliasTarget == nil || aws.ToString(r.AliasTarget.DNSName) != awstest.MAIPDRALB+"." {
		t.Errorf("api.maip.example.com: %v, want the DR alias", api)
	}
	wantInsync(t, w, states["dns_api"].Outputs["changeId"])

	// us-east-1 is back: fail back.
	restore()
	failback := awsOnly(w.load(t, "maip-failback.yaml"), nil, "dr_replica_ready") // waits for a person to rebuild the DR replica
	checks = assess(t, failback)
	for id, c := range checks {
		if !c.OK {
			t.Errorf("failback assess %s: %s %s", id, c.Summary, c.Error)
		}
	}
	states = run(t, failback)
	if o := states["shift_weights"].Outputs; o["stage"] != "4" || o["weights"] != "primary=100,dr=0" {
		t.Errorf("shift outputs %v", o)
	}
	api = apiRecords(t, w)
	if len(api) != 2 || aws.ToInt64(api["primary"].Weight) != 100 || aws.ToInt64(api["dr"].Weight) != 0 ||
		aws.ToString(api["primary"].AliasTarget.DNSName) != awstest.MAIPPrimaryALB+"." {
		t.Errorf("api.maip.example.com: %v, want primary 100, dr 0", api)
	}
	east := rds.NewFromConfig(w.AWSConfig(awstest.PrimaryRegion))
	db, err = east.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(awstest.MAIPFailbackDB)})
	if err != nil {
		t.Fatal(err)
	}
	if d := db.DBInstances[0]; aws.ToString(d.DBInstanceStatus) != "available" || d.ReadReplicaSourceDBInstanceIdentifier != nil || !aws.ToBool(d.StorageEncrypted) {
		t.Errorf("the new primary database: %s, source %v", aws.ToString(d.DBInstanceStatus), d.ReadReplicaSourceDBInstanceIdentifier)
	}
	wantNodegroup(t, w, awstest.PrimaryRegion, awstest.MAIPPrimaryCluster, awstest.MAIPPrimaryNodes, [3]int32{4, 20, 8})
	wantNodegroup(t, w, awstest.DRRegion, awstest.MAIPDRCluster, awstest.MAIPDRNodes, [3]int32{1, 20, 2})
	if o := states["scale_down_dr_nodegroup"].Outputs; o["previousDesiredSize"] != "8" || o["desiredSize"] != "2" {
		t.Errorf("DR scale-down outputs %v", o)
	}
}

func TestMimirRunbooksMoveTheRecordsAndHealthChecks(t *testing.T) {
	w := newWorld(t, testScale)
	const drAPI, drWeb = "b9d1e3f5-mimir-api.us-west-2.elb.amazonaws.com", "c0e2f4a6-mimir-web.us-west-2.elb.amazonaws.com"
	lbs := map[string]map[string]string{
		"dr_api_lb": {"hostname": drAPI, "ip": ""}, "dr_web_lb": {"hostname": drWeb, "ip": ""},
		"primary_api_lb": {"hostname": awstest.MimirPrimaryAPILB, "ip": ""}, "primary_web_lb": {"hostname": awstest.MimirPrimaryWebLB, "ip": ""},
	}
	run(t, awsOnly(w.load(t, "mimir-region-failover.yaml"), lbs))
	for name, want := range map[string]string{awstest.MimirAPIName: drAPI, awstest.MimirAppName: drWeb} {
		rs := cnames(t, w, name)
		if len(rs) != 1 || len(rs[""]) != 1 || rs[""][0] != want {
			t.Errorf("%s: %v, want a CNAME to %s", name, rs, want)
		}
	}
	if hc, _ := w.HealthCheck(w.mimir.APIHealthCheckID); hc.FullyQualifiedDomainName != drAPI {
		t.Errorf("API health check checks %s, want the DR load balancer", hc.FullyQualifiedDomainName)
	}

	states := run(t, awsOnly(w.load(t, "mimir-failback.yaml"), lbs))
	for _, id := range []string{"shift_api", "shift_app"} {
		if o := states[id].Outputs; o["stage"] != "4" || o["weights"] != "primary=100,dr=0" {
			t.Errorf("%s outputs %v", id, o)
		}
	}
	for name, want := range map[string][2]string{awstest.MimirAPIName: {awstest.MimirPrimaryAPILB, drAPI}, awstest.MimirAppName: {awstest.MimirPrimaryWebLB, drWeb}} {
		rs := cnames(t, w, name)
		if len(rs) != 2 || rs["primary"][0] != want[0] || rs["dr"][0] != want[1] {
			t.Errorf("%s: %v", name, rs)
		}
	}
	if hc, _ := w.HealthCheck(w.mimir.APIHealthCheckID); hc.FullyQualifiedDomainName != awstest.MimirPrimaryAPILB {
		t.Errorf("API health check checks %s, want the primary load balancer", hc.FullyQualifiedDomainName)
	}
}

func apiRecords(t *testing.T, w *world) map[string]r53Set {
	t.Helper()
	out, err := route53.NewFromConfig(w.AWSConfig(awstest.DRRegion)).ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(w.maip.ZoneID), StartRecordName: aws.String(awstest.MAIPAPIName), StartRecordType: "A"})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]r53Set{}
	for _, r := range out.ResourceRecordSets {
		if aws.ToString(r.Name) == awstest.MAIPAPIName+"." && r.Type == "A" {
			sets[aws.ToString(r.SetIdentifier)] = r
		}
	}
	return sets
}

// cnames lists the values of name's CNAME record sets by set identifier.
func cnames(t *testing.T, w *world, name string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range w.Records(w.mimir.ZoneID) {
		if r.Name == name+"." && r.Type == "CNAME" {
			out[r.SetIdentifier] = r.Values
		}
	}
	return out
}

func wantInsync(t *testing.T, w *world, id string) {
	t.Helper()
	out, err := route53.NewFromConfig(w.AWSConfig(awstest.DRRegion)).GetChange(context.Background(), &route53.GetChangeInput{Id: aws.String(id)})
	if err != nil || out.ChangeInfo.Status != "INSYNC" {
		t.Errorf("change %q: %v %v, want INSYNC", id, out, err)
	}
}

func wantNodegroup(t *testing.T, w *world, region, cluster, name string, want [3]int32) {
	t.Helper()
	out, err := eks.NewFromConfig(w.AWSConfig(region)).DescribeNodegroup(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	sc := out.Nodegroup.ScalingConfig
	if got := [3]int32{*sc.MinSize, *sc.MaxSize, *sc.DesiredSize}; got != want || out.Nodegroup.Status != "ACTIVE" {
		t.Errorf("node group %s/%s: %s %v, want ACTIVE %v", cluster, name, out.Nodegroup.Status, got, want)
	}
}

type r53Set = r53types.ResourceRecordSet
