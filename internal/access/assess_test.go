package access

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/lab/kube/kubetest"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

// loadRunbook writes and loads a runbook.
func loadRunbook(t *testing.T, text string) *runbook.Runbook {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rb.yaml")
	must(t, os.WriteFile(path, []byte(text), 0o600))
	reg, err := builtin.Registry()
	must(t, err)
	rb, err := runbook.Load(path, reg)
	must(t, err)
	return rb
}

func checkNamed(t *testing.T, a executor.Assessment, id string) executor.Check {
	t.Helper()
	for _, c := range a.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("the assessment has no check %s: %+v", id, a.Checks)
	return executor.Check{}
}

func TestAssessNamesTheMissingKubernetesVerbBeforeAnyoneApproves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := kubetest.Namespace(t)
	cs := kubetest.Client(t)
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bot"}}, metav1.CreateOptions{})
	must(t, err)
	kc := kubetest.Cluster(t).Kubeconfig("bot", "")
	for _, ai := range kc.AuthInfos {
		ai.Impersonate = "system:serviceaccount:" + ns + ":bot"
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	must(t, clientcmd.WriteToFile(*kc, kcPath))
	rb := loadRunbook(t, `name: scale-web
approval: {required: 0}
connections:
  cluster: {type: kubernetes, kubeconfig: `+kcPath+`, context: bot}
assess:
  - {id: pods, kind: kubernetes.podsReady, connection: cluster, with: {namespace: `+ns+`}}
phases:
  - id: scale
    steps:
      - {id: scale_web, kind: kubernetes.scale, connection: cluster, with: {namespace: `+ns+`, name: web, replicas: 2}}
`)
	c := Clusters(Derive([]*runbook.Runbook{rb}))[0]
	objs := c.Objects(Subject{Name: "bot", ServiceAccount: "bot", Namespace: ns})
	role := objs[0].(*rbacv1.Role)
	for i, r := range role.Rules {
		role.Rules[i].Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "patch" })
	}
	applyObjects(t, ctx, cs, objs)

	planner := &executor.Planner{Access: Checker{}}
	got := checkNamed(t, planner.Assess(ctx, rb), "permissions_cluster")
	if got.OK || !strings.Contains(got.Error, "patch deployments.apps web in namespace "+ns) {
		t.Errorf("assess with the Role lacking patch: %+v; want a failed check naming patch deployments.apps web in namespace %s", got, ns)
	}

	role.Rules = c.Objects(Subject{Name: "bot", ServiceAccount: "bot", Namespace: ns})[0].(*rbacv1.Role).Rules
	_, err = cs.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{})
	must(t, err)
	if got := checkNamed(t, planner.Assess(ctx, rb), "permissions_cluster"); !got.OK || got.Error != "" {
		t.Errorf("assess with the generated Role: %+v; want it passed", got)
	}
}

func TestAssessNamesTheAWSActionAWSDenies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := awstest.Start(ctx, awstest.Options{})
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	must(t, s.SeedDBInstance(awstest.DBInstanceSpec{Region: awstest.DRRegion, ID: "orders-replica"}))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for k, v := range s.Env(awstest.DRRegion) {
		t.Setenv(k, v)
	}
	rb := loadRunbook(t, `name: promote-orders
approval: {required: 0}
regions:
  dr: {cloudRegion: `+awstest.DRRegion+`}
connections:
  dr_aws: {type: aws, region: dr}
phases:
  - id: db
    steps:
      - {id: promote, kind: aws.rds.promoteReadReplica, connection: dr_aws, with: {dbInstanceIdentifier: orders-replica}}
`)
	planner := &executor.Planner{Access: Checker{}}
	if got := checkNamed(t, planner.Assess(ctx, rb), "permissions_dr_aws"); !got.OK {
		t.Errorf("assess with every permission: %+v; want it passed", got)
	}
	s.Inject(awstest.Fault{Op: "rds:DescribeDBInstances", Kind: awstest.FaultAccessDenied})
	got := checkNamed(t, planner.Assess(ctx, rb), "permissions_dr_aws")
	want := "rds:DescribeDBInstances on arn:aws:rds:" + awstest.DRRegion + ":"
	if got.OK || !strings.Contains(got.Error, want) || !strings.Contains(got.Error, ":db:orders-replica (step promote)") {
		t.Errorf("assess with DescribeDBInstances denied: %+v; want a failed check naming %s…:db:orders-replica", got, want)
	}
}
