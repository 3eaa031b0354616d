package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/kube"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

// seedScale runs the lab's AWS and the AWS kinds' own waits 500 times
// faster than AWS: a 90 s promotion takes 180 ms, a shift's 10-minute hold
// 1.2 s.
const seedScale = 0.002

// The seed tests run the shipped files themselves and the shipped overlay.
const fullOverlay = "../../runbooks/overlays/lab-full.yaml"

// seedLab is the full lab of a seed test, torn down when it ends. The
// servers must start: a missing binary fails the test.
func seedLab(t *testing.T) *lab.Lab {
	t.Helper()
	if os.Getenv("FAILOVER_KUBE_BIN") == "" {
		if _, err := kube.FindBinDir(context.Background()); err != nil {
			t.Fatalf("the full lab needs the Kubernetes binaries: %v", err)
		}
	}
	start := time.Now()
	l, err := upFullLab(context.Background(), "", seedScale)
	if err != nil {
		t.Fatalf("full lab up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	t.Logf("full lab up in %s", time.Since(start).Round(time.Millisecond))
	return l
}

// consoleScript runs script from the console against l and returns what
// the console printed; a line that fails ends the script and the test.
// Each "# person" line of script calls the next of people, once the
// console has run the lines before it: what a person does at a gate.
func consoleScript(t *testing.T, l *lab.Lab, dir, script string, people ...func()) string {
	t.Helper()
	return runLines(t, l, dir, script, people...)
}

func runLines(t *testing.T, l *lab.Lab, dir, script string, people ...func()) string {
	t.Helper()
	var out, errs bytes.Buffer
	start := time.Now()
	var parts []io.Reader
	for i, part := range strings.Split(script, "# person\n") {
		if i > 0 {
			parts = append(parts, &personReader{do: people[i-1]})
		}
		parts = append(parts, strings.NewReader(part))
	}
	run := seedConsole(l, dir, shippedRunbooks(t), fullOverlay, seedScale, io.MultiReader(parts...), &out, &errs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := runConsole(ctx, run)
	t.Logf("console (%s):\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if errs.Len() > 0 {
		t.Logf("stderr:\n%s", errs.String())
	}
	if err != nil {
		t.Fatalf("console: %v", err)
	}
	return out.String()
}

// personReader calls do when the console asks for its next line.
type personReader struct {
	do   func()
	done bool
}

func (p *personReader) Read([]byte) (int, error) {
	if !p.done {
		p.done = true
		p.do()
	}
	return 0, io.EOF
}

// wantSaid fails t for each text the console did not print.
func wantSaid(t *testing.T, out string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(out, s) {
			t.Errorf("the console did not say %q", s)
		}
	}
}

// awsClient is a configuration of the real SDK for the lab's AWS in region.
func awsClient(t *testing.T, l *lab.Lab, region string) aws.Config {
	t.Helper()
	env := l.Env()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(region),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], "")),
		awsconfig.WithBaseEndpoint(env["LAB_AWS_ENDPOINT"]))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// kubeClient is an admin client of a lab context.
func kubeClient(t *testing.T, l *lab.Lab, context string) *kubernetes.Clientset {
	t.Helper()
	cfg, err := l.KubeRESTConfig(context)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// wantDeployments checks each deployment's size and that its rollout at
// that size is complete, by the workload's own status.
func wantDeployments(t *testing.T, cs *kubernetes.Clientset, where, ns string, want map[string]int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, n := range want {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("%s: deployment %s/%s: %v", where, ns, name, err)
			continue
		}
		if !rolledOut(d, n) {
			t.Errorf("%s: deployment %s/%s: spec %d, status %+v; want %d rolled out", where, ns, name, *d.Spec.Replicas, d.Status, n)
		}
	}
}

func rolledOut(d *appsv1.Deployment, n int32) bool {
	s := d.Status
	return *d.Spec.Replicas == n && s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.ReadyReplicas == n && s.AvailableReplicas == n && s.Replicas == n
}

// wantNodegroup checks an EKS node group's min/max/desired and ACTIVE.
func wantNodegroup(t *testing.T, cfg aws.Config, cluster, name string, want [3]int32) {
	t.Helper()
	out, err := eks.NewFromConfig(cfg).DescribeNodegroup(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
	if err != nil {
		t.Fatalf("describe node group %s: %v", name, err)
	}
	sc := out.Nodegroup.ScalingConfig
	if got := [3]int32{*sc.MinSize, *sc.MaxSize, *sc.DesiredSize}; got != want || out.Nodegroup.Status != "ACTIVE" {
		t.Errorf("node group %s/%s: %s %v, want ACTIVE %v (min, max, desired)", cluster, name, out.Nodegroup.Status, got, want)
	}
}

// dbInstance describes an RDS instance.
func dbInstance(t *testing.T, cfg aws.Config, id string) (status string, source *string, retention int32) {
	t.Helper()
	out, err := rds.NewFromConfig(cfg).DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String(id)})
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	d := out.DBInstances[0]
	return aws.ToString(d.DBInstanceStatus), d.ReadReplicaSourceDBInstanceIdentifier, aws.ToInt32(d.BackupRetentionPeriod)
}

// recordSets lists name's record sets of type typ in zone, by set identifier.
func recordSets(t *testing.T, cfg aws.Config, zone, name, typ string) map[string]r53types.ResourceRecordSet {
	t.Helper()
	out, err := route53.NewFromConfig(cfg).ListResourceRecordSets(context.Background(), &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zone), StartRecordName: aws.String(name), StartRecordType: r53types.RRType(typ)})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]r53types.ResourceRecordSet{}
	for _, r := range out.ResourceRecordSets {
		if aws.ToString(r.Name) == name+"." && string(r.Type) == typ {
			sets[aws.ToString(r.SetIdentifier)] = r
		}
	}
	return sets
}

// wantChangesInsync checks that every Route 53 change the fake saw is INSYNC.
func wantChangesInsync(t *testing.T, cfg aws.Config, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		t.Error("no Route 53 change to check")
	}
	for _, id := range ids {
		out, err := route53.NewFromConfig(cfg).GetChange(context.Background(), &route53.GetChangeInput{Id: aws.String(id)})
		if err != nil || out.ChangeInfo.Status != r53types.ChangeStatusInsync {
			t.Errorf("change %s: %v %v, want INSYNC", id, out, err)
		}
	}
}

// lastRun is the state and step states of the newest run of runbook in
// the console's store.
func lastRun(t *testing.T, dir, runbook string) (*store.Run, map[string]*store.StepState) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "bot.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.ListRuns(ctx, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var run *store.Run
	for _, r := range runs {
		if r.Runbook == runbook && (run == nil || r.CreatedAt.After(run.CreatedAt)) {
			run = r
		}
	}
	if run == nil {
		t.Fatalf("no run of %s in the store", runbook)
	}
	list, err := st.Steps(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*store.StepState{}
	for _, s := range list {
		states[s.StepID] = s
	}
	return run, states
}

// wantAllDone fails t unless the run succeeded with every step of its
// runbook done — none skipped or left out — except the alternatives
// that only run when the step they replace fails.
func wantAllDone(t *testing.T, run *store.Run, states map[string]*store.StepState, alternatives ...string) {
	t.Helper()
	if run.State != store.RunSucceeded {
		t.Errorf("run %s is %s: %s", run.ID, run.State, run.StateReason)
	}
	for id, s := range states {
		if slices.Contains(alternatives, id) {
			continue
		}
		if s.Status != store.StepDone {
			t.Errorf("step %s is %s: %s %s", id, s.Status, s.Summary, s.Error)
		}
	}
}
