package aws

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// drScale is scale_nodegroup of runbooks/maip-region-failover.yaml.
func drScale() *ScaleNodegroupConfig {
	return &ScaleNodegroupConfig{ClusterName: awstest.MAIPDRCluster, NodegroupName: awstest.MAIPDRNodes, MinSize: ptr(4), MaxSize: ptr(20), DesiredSize: ptr(8)}
}

// nodegroup reads a node group with the SDK.
func nodegroup(t *testing.T, l *lab, region, cluster, name string) (string, [3]int32) {
	t.Helper()
	out, err := eks.NewFromConfig(l.AWSConfig(region)).DescribeNodegroup(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	sc := out.Nodegroup.ScalingConfig
	return string(out.Nodegroup.Status), [3]int32{*sc.MinSize, *sc.MaxSize, *sc.DesiredSize}
}

func TestScaleNodegroupWaitsUntilActive(t *testing.T) {
	l := newLab(t, awstest.Options{})
	s := stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup", drScale(), l.conn(west))
	if res := stepstest.Check(t, s); res.Done || res.Summary != "node group maip-prod-dr-eks-cluster/maip-prod-dr-nodegroup is ACTIVE with min 1, max 20, desired 2 (to be min 4, max 20, desired 8)" {
		t.Fatalf("before: %+v", res)
	}
	res := stepstest.Converge(t, s, 10*time.Second)
	want := map[string]string{"minSize": "4", "maxSize": "20", "desiredSize": "8", "previousMinSize": "1", "previousMaxSize": "20", "previousDesiredSize": "2"}
	for k, v := range want {
		if res.Outputs[k] != v {
			t.Errorf("output %s = %q, want %s", k, res.Outputs[k], v)
		}
	}
	if st, sz := nodegroup(t, l, west, awstest.MAIPDRCluster, awstest.MAIPDRNodes); st != "ACTIVE" || sz != [3]int32{4, 20, 8} {
		t.Errorf("after: %s %v", st, sz)
	}
	if got := states(l, awstest.Nodegroup(west, awstest.MAIPDRCluster, awstest.MAIPDRNodes)); got != "ACTIVE → UPDATING → ACTIVE" {
		t.Errorf("states %s", got)
	}
	if err := apply(t, s); err != nil {
		t.Errorf("second Apply = %v", err)
	}
	if n := l.Calls("eks:UpdateNodegroupConfig"); n != 1 {
		t.Errorf("%d updates, want 1", n)
	}
	fresh := stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup", drScale(), l.conn(west))
	if res := stepstest.Check(t, fresh); !res.Done || res.Outputs["previousDesiredSize"] != "8" {
		t.Errorf("a fresh step: %+v, want done, nothing to change", res)
	}
}

func TestScaleNodegroupWaitsForAnUpdateInProgressFirst(t *testing.T) {
	l := newLab(t, awstest.Options{Delays: awstest.Delays{NodegroupUpdating: 10 * time.Minute}}) // 600 ms
	if _, err := eks.NewFromConfig(l.AWSConfig(west)).UpdateNodegroupConfig(context.Background(), &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes),
		ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(3)}}); err != nil {
		t.Fatal(err)
	}
	s := stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup", drScale(), l.conn(west))
	res := stepstest.Converge(t, s, 20*time.Second)
	if res.Outputs["previousDesiredSize"] != "3" || res.Outputs["desiredSize"] != "8" {
		t.Errorf("outputs %v", res.Outputs)
	}
	if n := l.Calls("eks:UpdateNodegroupConfig"); n != 2 {
		t.Errorf("%d updates, want 2 (no ResourceInUse retries)", n)
	}
}

func TestScaleNodegroupRefusals(t *testing.T) {
	l := newLab(t, awstest.Options{})
	t.Run("sizes that do not fit the live ones", func(t *testing.T) {
		err := apply(t, stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup",
			&ScaleNodegroupConfig{ClusterName: awstest.MAIPDRCluster, NodegroupName: awstest.MAIPDRNodes, DesiredSize: ptr(30)}, l.conn(west)))
		wantPermanent(t, err, "would have min 1, max 20, desired 30")
	})
	t.Run("no such node group", func(t *testing.T) {
		_, err := check(t, stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup",
			&ScaleNodegroupConfig{ClusterName: awstest.MAIPDRCluster, NodegroupName: "nope", DesiredSize: ptr(1)}, l.conn(west)))
		wantPermanent(t, err, "refused (ResourceNotFoundException)", "No node group found for name: nope")
	})
	t.Run("access denied", func(t *testing.T) {
		l.Inject(awstest.Fault{Op: "eks:UpdateNodegroupConfig", Kind: awstest.FaultAccessDenied, Times: 1})
		err := apply(t, stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup", drScale(), l.conn(west)))
		wantPermanent(t, err, "access denied: eks:UpdateNodegroupConfig on arn:aws:eks:us-west-2:*:nodegroup/maip-prod-dr-eks-cluster/maip-prod-dr-nodegroup/*")
		stepstest.NoSecret(t, l.secret(), steps.Result{}, err)
	})
	if n := l.Calls("eks:UpdateNodegroupConfig"); n != 1 {
		t.Errorf("%d update calls, want only the denied one", n)
	}
}

func TestScaleNodegroupSurvivesThrottlingAndHonoursDeadlines(t *testing.T) {
	l := newLab(t, awstest.Options{})
	f := l.Inject(awstest.Fault{Op: "eks:*", Kind: awstest.FaultThrottle, Times: 4})
	stepstest.Converge(t, stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup", drScale(), l.conn(west)), 10*time.Second)
	if f.Hits() != 4 {
		t.Errorf("throttled %d calls, want 4", f.Hits())
	}
	l.HangRegion(east)
	s := stepstest.BuildStep(t, register, "aws.eks.scaleNodegroup",
		&ScaleNodegroupConfig{ClusterName: awstest.MAIPPrimaryCluster, NodegroupName: awstest.MAIPPrimaryNodes, DesiredSize: ptr(9), CallTimeout: "300ms"}, l.conn(east))
	var err error
	within(t, 1300*time.Millisecond, "Check", func() { _, err = check(t, s) })
	wantTransient(t, err, "no answer")
	within(t, 1300*time.Millisecond, "Apply", func() { err = apply(t, s) })
	wantTransient(t, err)
}
