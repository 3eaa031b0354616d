package aws

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// ScaleNodegroup is an aws.eks.scaleNodegroup step.
type ScaleNodegroup struct {
	c   *client
	eks *eks.Client
	cfg ScaleNodegroupConfig

	mu       sync.Mutex
	previous *sizes // the sizes seen before this step changed them
	update   string // the id of the update this step started
}

var _ steps.Step = (*ScaleNodegroup)(nil)

func (k *kinds) newScaleNodegroup(ctx context.Context, cfg *ScaleNodegroupConfig, env steps.Env) (steps.Step, error) {
	c, err := k.client(ctx, "aws.eks.scaleNodegroup", env, cfg.CallTimeout)
	if err != nil {
		return nil, err
	}
	return &ScaleNodegroup{c: c, eks: eks.NewFromConfig(c.cfg), cfg: *cfg}, nil
}

// sizes is a node group's scaling config.
type sizes struct{ min, max, desired int }

func (s sizes) String() string {
	return fmt.Sprintf("min %d, max %d, desired %d", s.min, s.max, s.desired)
}

// nodegroupState is what the step reads of a node group.
type nodegroupState struct {
	status string
	sizes  sizes
	health []string
}

func (s *ScaleNodegroup) arn() string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/*", s.c.region, s.c.account(), s.cfg.ClusterName, s.cfg.NodegroupName)
}

func (s *ScaleNodegroup) describe(ctx context.Context) (nodegroupState, error) {
	cctx, st, cancel := s.c.call(ctx, "EKS")
	defer cancel()
	out, err := s.eks.DescribeNodegroup(cctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(s.cfg.ClusterName), NodegroupName: aws.String(s.cfg.NodegroupName)})
	if err != nil {
		return nodegroupState{}, s.c.fail(ctx, st, err, "eks:DescribeNodegroup", s.arn(), "describe node group %s/%s", s.cfg.ClusterName, s.cfg.NodegroupName)
	}
	ng := out.Nodegroup
	ns := nodegroupState{status: string(ng.Status)}
	if sc := ng.ScalingConfig; sc != nil {
		ns.sizes = sizes{int(aws.ToInt32(sc.MinSize)), int(aws.ToInt32(sc.MaxSize)), int(aws.ToInt32(sc.DesiredSize))}
	}
	if h := ng.Health; h != nil {
		for _, i := range h.Issues {
			ns.health = append(ns.health, string(i.Code)+": "+aws.ToString(i.Message))
		}
	}
	return ns, nil
}

// target is the scaling config wanted, from the live one for sizes the
// config leaves unset.
func (s *ScaleNodegroup) target(live sizes) sizes {
	t := live
	if v := s.cfg.MinSize; v != nil {
		t.min = *v
	}
	if v := s.cfg.MaxSize; v != nil {
		t.max = *v
	}
	if v := s.cfg.DesiredSize; v != nil {
		t.desired = *v
	}
	return t
}

func (s *ScaleNodegroup) outputs(live sizes) map[string]string {
	out := map[string]string{"minSize": strconv.Itoa(live.min), "maxSize": strconv.Itoa(live.max), "desiredSize": strconv.Itoa(live.desired),
		"previousMinSize": "", "previousMaxSize": "", "previousDesiredSize": ""}
	s.mu.Lock()
	prev := s.previous
	s.mu.Unlock()
	if prev != nil {
		out["previousMinSize"], out["previousMaxSize"], out["previousDesiredSize"] = strconv.Itoa(prev.min), strconv.Itoa(prev.max), strconv.Itoa(prev.desired)
	}
	return out
}

// Check is done when the node group is ACTIVE with the configured sizes.
// Outputs the live sizes and, when this step saw them before changing them
// (or found nothing to change), the previous ones for failback ("" after a
// restart of the bot between the change and its end).
func (s *ScaleNodegroup) Check(ctx context.Context) (steps.Result, error) {
	if err := s.c.verify(ctx); err != nil {
		return steps.Result{}, err
	}
	st, err := s.describe(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	want := s.target(st.sizes)
	name := s.cfg.ClusterName + "/" + s.cfg.NodegroupName
	done := st.status == string(types.NodegroupStatusActive) && st.sizes == want
	s.mu.Lock()
	if done && s.previous == nil && s.update == "" {
		prev := st.sizes // nothing to change: the previous sizes are these
		s.previous = &prev
	}
	s.mu.Unlock()
	res := steps.Result{Done: done, Outputs: s.outputs(st.sizes), Summary: fmt.Sprintf("node group %s is %s with %s", name, st.status, st.sizes)}
	if !done && st.sizes != want {
		res.Summary += " (to be " + want.String() + ")"
	}
	if len(st.health) > 0 {
		res.Summary += "; health: " + strings.Join(st.health, "; ")
	}
	return res, nil
}

// Apply waits for a node group that is UPDATING to be ACTIVE, sets the
// scaling config if it differs, and waits until the node group is ACTIVE
// with it. A node group in another state (DEGRADED, DELETING, …), sizes
// that do not fit together with the live ones, and an update EKS reports
// failed are permanent errors.
func (s *ScaleNodegroup) Apply(ctx context.Context) error {
	if err := s.c.verify(ctx); err != nil {
		return err
	}
	name := s.cfg.ClusterName + "/" + s.cfg.NodegroupName
	active := func(ctx context.Context) (nodegroupState, observation, error) {
		st, err := s.describe(ctx)
		if err != nil {
			return st, observation{}, err
		}
		switch types.NodegroupStatus(st.status) {
		case types.NodegroupStatusActive:
			return st, observation{done: true, state: st.status}, nil
		case types.NodegroupStatusUpdating, types.NodegroupStatusCreating:
			return st, observation{state: st.status}, nil
		}
		return st, observation{}, steps.Permanentf("%s: node group %s is %s (%s)%s", s.c.kind, name, st.status, s.c.where(), health(st))
	}
	st, o, err := active(ctx)
	if err != nil {
		return err
	}
	if !o.done {
		if err := s.c.waitFor(ctx, "until node group "+name+" is ACTIVE before scaling it", func(ctx context.Context) (observation, error) {
			var o observation
			st, o, err = active(ctx)
			return o, err
		}); err != nil {
			return err
		}
	}
	want := s.target(st.sizes)
	if want != st.sizes {
		if want.min > want.max || want.desired < want.min || want.desired > want.max || want.max < 1 {
			return steps.Permanentf("%s: node group %s would have %s with the live sizes (%s): set minSize, maxSize and desiredSize so that min ≤ desired ≤ max",
				s.c.kind, name, want, st.sizes)
		}
		if err := s.scale(ctx, st.sizes, want); err != nil {
			return err
		}
	}
	return s.c.waitFor(ctx, "until node group "+name+" is ACTIVE with "+want.String(), func(ctx context.Context) (observation, error) {
		st, o, err := active(ctx)
		if err != nil || !o.done || st.sizes == s.target(st.sizes) {
			return o, err
		}
		// ACTIVE with other sizes: the update failed, or someone changed it.
		return observation{}, s.failedUpdate(ctx, st)
	})
}

func health(st nodegroupState) string {
	if len(st.health) == 0 {
		return ""
	}
	return ": " + strings.Join(st.health, "; ")
}

func (s *ScaleNodegroup) scale(ctx context.Context, live, want sizes) error {
	sc := &types.NodegroupScalingConfig{}
	if s.cfg.MinSize != nil {
		sc.MinSize = aws.Int32(int32(want.min))
	}
	if s.cfg.MaxSize != nil {
		sc.MaxSize = aws.Int32(int32(want.max))
	}
	if s.cfg.DesiredSize != nil {
		sc.DesiredSize = aws.Int32(int32(want.desired))
	}
	s.c.log.InfoContext(ctx, "scaling an EKS node group", "nodegroup", s.cfg.ClusterName+"/"+s.cfg.NodegroupName, "from", live.String(), "to", want.String())
	cctx, st, cancel := s.c.call(ctx, "EKS")
	defer cancel()
	out, err := s.eks.UpdateNodegroupConfig(cctx, &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String(s.cfg.ClusterName), NodegroupName: aws.String(s.cfg.NodegroupName), ScalingConfig: sc,
	})
	if err != nil {
		return s.c.fail(ctx, st, err, "eks:UpdateNodegroupConfig", s.arn(), "scale node group %s/%s to %s", s.cfg.ClusterName, s.cfg.NodegroupName, want)
	}
	s.mu.Lock()
	s.previous = &live
	s.update = aws.ToString(out.Update.Id)
	s.mu.Unlock()
	return nil
}

// failedUpdate explains a node group ACTIVE without the sizes asked for:
// the errors of the update this step started when EKS reports it failed.
func (s *ScaleNodegroup) failedUpdate(ctx context.Context, ns nodegroupState) error {
	name := s.cfg.ClusterName + "/" + s.cfg.NodegroupName
	s.mu.Lock()
	id := s.update
	s.mu.Unlock()
	msg := fmt.Sprintf("%s: node group %s is ACTIVE with %s, not %s", s.c.kind, name, ns.sizes, s.target(ns.sizes))
	if id == "" {
		return fmt.Errorf("%s (changed by someone else meanwhile?)", msg)
	}
	cctx, st, cancel := s.c.call(ctx, "EKS")
	defer cancel()
	out, err := s.eks.DescribeUpdate(cctx, &eks.DescribeUpdateInput{Name: aws.String(s.cfg.ClusterName), NodegroupName: aws.String(s.cfg.NodegroupName), UpdateId: aws.String(id)})
	if err != nil {
		return s.c.fail(ctx, st, err, "eks:DescribeUpdate", s.arn(), "describe update %s of %s", id, name)
	}
	u := out.Update
	if u.Status == types.UpdateStatusFailed || u.Status == types.UpdateStatusCancelled {
		var errs []string
		for _, e := range u.Errors {
			errs = append(errs, string(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
		}
		return steps.Permanentf("%s: update %s %s: %s", msg, id, u.Status, strings.Join(errs, "; "))
	}
	return fmt.Errorf("%s (update %s %s)", msg, id, u.Status)
}
