package awstest_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

func drNodegroup() *eks.DescribeNodegroupInput {
	return &eks.DescribeNodegroupInput{ClusterName: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes)}
}

func TestDescribeNodegroupShowsItsScalingConfig(t *testing.T) {
	s, _, _, _ := seeded(t)
	out, err := eksClient(s, west).DescribeNodegroup(ctx(t), drNodegroup())
	if err != nil {
		t.Fatal(err)
	}
	ng := out.Nodegroup
	sc := ng.ScalingConfig
	if ng.Status != types.NodegroupStatusActive || sc == nil || aws.ToInt32(sc.MinSize) != 1 || aws.ToInt32(sc.DesiredSize) != 2 || aws.ToInt32(sc.MaxSize) != 20 {
		t.Fatalf("node group = status %s scaling %+v", ng.Status, sc)
	}
	if aws.ToString(ng.ClusterName) != awstest.MAIPDRCluster || ng.CreatedAt == nil || len(ng.InstanceTypes) == 0 {
		t.Errorf("node group = %+v", ng)
	}
	for _, tc := range []struct{ name, cluster, nodegroup string }{
		{"an unknown node group", awstest.MAIPDRCluster, "nope"},
		{"an unknown cluster", "nope", awstest.MAIPDRNodes},
		{"a node group of the other region", awstest.MAIPPrimaryCluster, awstest.MAIPPrimaryNodes},
	} {
		_, err := eksClient(s, west).DescribeNodegroup(ctx(t), &eks.DescribeNodegroupInput{ClusterName: aws.String(tc.cluster), NodegroupName: aws.String(tc.nodegroup)})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("%s: err = %v, want ResourceNotFoundException", tc.name, err)
		}
	}
}

func TestScaleNodegroupIsUpdatingUntilTheNodegroupActiveWaiterSeesActive(t *testing.T) {
	s, clk, _, _ := seeded(t)
	d := s.Scaled()
	var seen []types.NodegroupStatus
	c := eks.NewFromConfig(config(s, west), func(o *eks.Options) {
		o.APIOptions = append(o.APIOptions, afterEach(func(out *eks.DescribeNodegroupOutput) {
			seen = append(seen, out.Nodegroup.Status)
			clk.Advance(d.NodegroupUpdating / 2)
		}))
	})
	up, err := c.UpdateNodegroupConfig(ctx(t), &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes),
		ScalingConfig: &types.NodegroupScalingConfig{MinSize: aws.Int32(4), MaxSize: aws.Int32(20), DesiredSize: aws.Int32(8)},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := up.Update
	if u.Status != types.UpdateStatusInProgress || u.Type != types.UpdateTypeConfigUpdate || len(u.Params) != 3 {
		t.Fatalf("update = %+v", u)
	}
	if u.Params[0].Type != types.UpdateParamTypeMinSize || aws.ToString(u.Params[0].Value) != "4" {
		t.Errorf("params = %+v", u.Params)
	}
	_, err = c.UpdateNodegroupConfig(ctx(t), &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes),
		ScalingConfig: &types.NodegroupScalingConfig{DesiredSize: aws.Int32(9)}})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Errorf("a second update while UPDATING: err = %v, want ResourceInUseException", err)
	}
	w := eks.NewNodegroupActiveWaiter(c, func(o *eks.NodegroupActiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 5*time.Millisecond
	})
	if err := w.Wait(ctx(t), drNodegroup(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if want := []types.NodegroupStatus{"UPDATING", "UPDATING", "ACTIVE"}; !slices.Equal(seen, want) {
		t.Errorf("the waiter saw %v, want %v", seen, want)
	}
	ng := seenNodegroup(t, c)
	if sc := ng.ScalingConfig; aws.ToInt32(sc.MinSize) != 4 || aws.ToInt32(sc.DesiredSize) != 8 || aws.ToInt32(sc.MaxSize) != 20 {
		t.Errorf("scaling after the update = %+v", sc)
	}
	du, err := c.DescribeUpdate(ctx(t), &eks.DescribeUpdateInput{Name: aws.String(awstest.MAIPDRCluster),
		NodegroupName: aws.String(awstest.MAIPDRNodes), UpdateId: u.Id})
	if err != nil {
		t.Fatal(err)
	}
	if du.Update.Status != types.UpdateStatusSuccessful {
		t.Errorf("update status = %s, want Successful", du.Update.Status)
	}
	tr := s.Transitions(awstest.NodegroupUpdate(west, aws.ToString(u.Id)))
	if len(tr) != 2 || tr[1].State != "Successful" || tr[1].At.Sub(tr[0].At) != d.NodegroupUpdating {
		t.Errorf("update transitions = %+v", tr)
	}
	_, err = c.DescribeUpdate(ctx(t), &eks.DescribeUpdateInput{Name: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes), UpdateId: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown update: err = %v, want ResourceNotFoundException", err)
	}
}

func seenNodegroup(t *testing.T, c *eks.Client) *types.Nodegroup {
	t.Helper()
	out, err := c.DescribeNodegroup(ctx(t), drNodegroup())
	if err != nil {
		t.Fatal(err)
	}
	return out.Nodegroup
}

func TestUpdateNodegroupConfigRefusesImpossibleSizes(t *testing.T) {
	s, _, _, _ := seeded(t)
	for _, tc := range []struct {
		name          string
		min, max, des *int32
	}{
		{"desired above max", nil, nil, aws.Int32(30)},
		{"min above max", aws.Int32(25), nil, nil},
		{"desired below min", aws.Int32(3), nil, nil},
		{"nothing to change", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eksClient(s, west).UpdateNodegroupConfig(ctx(t), &eks.UpdateNodegroupConfigInput{
				ClusterName: aws.String(awstest.MAIPDRCluster), NodegroupName: aws.String(awstest.MAIPDRNodes),
				ScalingConfig: &types.NodegroupScalingConfig{MinSize: tc.min, MaxSize: tc.max, DesiredSize: tc.des}})
			var ip *types.InvalidParameterException
			if !errors.As(err, &ip) {
				t.Fatalf("err = %v, want InvalidParameterException", err)
			}
		})
	}
}
