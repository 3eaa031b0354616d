package aws_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/failoverbot/failoverbot/internal/access"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps/aws/awstest"
)

// policyOf is the IAM policy `bot iam-policy` prints for the runbooks.
func policyOf(rbs ...*runbook.Runbook) access.Policy {
	p, _, _ := access.IAMPolicy(access.Derive(rbs), nil)
	return p
}

// covered checks every call awstest answered since the last reset against
// the policy (action, and resource where the fake knows the ARN) and
// returns the actions called. sts:GetCallerIdentity needs no permission.
func covered(t *testing.T, w *world, p access.Policy, what string) map[string]bool {
	t.Helper()
	called := map[string]bool{}
	for _, c := range w.CallLog() {
		if c.Action == "sts:GetCallerIdentity" {
			continue
		}
		called[c.Action] = true
		if !p.Allows(c.Action, c.Resource) {
			t.Errorf("%s: %s called %s on %s, which the derived policy does not allow", what, c.Op, c.Action, c.Resource)
		}
	}
	return called
}

func policyActions(p access.Policy) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			out[a] = true
		}
	}
	return out
}

// TestPolicyCoversEveryCall runs the four seeds' AWS steps (assessments,
// failovers, failbacks) against the local AWS and checks that every
// operation they made is allowed by the policy derived from the same
// runbooks, and that the policy grants no action they did not call.
func TestPolicyCoversEveryCall(t *testing.T) {
	w := newWorld(t, testScale)
	called := map[string]bool{}
	all := access.Policy{}

	maipOver := w.load(t, "maip-region-failover.yaml")
	maipBack := w.load(t, "maip-failback.yaml")
	p := policyOf(maipOver, maipBack)
	all.Statement = append(all.Statement, p.Statement...)
	w.ResetCalls()
	restore := w.RegionOutage(awstest.PrimaryRegion)
	assess(t, awsOnly(maipOver, nil))
	run(t, awsOnly(maipOver, nil))
	restore()
	assess(t, awsOnly(maipBack, nil, "dr_replica_ready"))
	run(t, awsOnly(maipBack, nil, "dr_replica_ready"))
	maps.Copy(called, covered(t, w, p, "MAIP"))

	const drAPI, drWeb = "b9d1e3f5-mimir-api.us-west-2.elb.amazonaws.com", "c0e2f4a6-mimir-web.us-west-2.elb.amazonaws.com"
	lbs := map[string]map[string]string{
		"dr_api_lb": {"hostname": drAPI, "ip": ""}, "dr_web_lb": {"hostname": drWeb, "ip": ""},
		"primary_api_lb": {"hostname": awstest.MimirPrimaryAPILB, "ip": ""}, "primary_web_lb": {"hostname": awstest.MimirPrimaryWebLB, "ip": ""},
	}
	mimirOver := w.load(t, "mimir-region-failover.yaml")
	mimirBack := w.load(t, "mimir-failback.yaml")
	p = policyOf(mimirOver, mimirBack)
	all.Statement = append(all.Statement, p.Statement...)
	w.ResetCalls()
	assess(t, awsOnly(mimirOver, lbs))
	run(t, awsOnly(mimirOver, lbs))
	run(t, awsOnly(mimirBack, lbs))
	maps.Copy(called, covered(t, w, p, "Mimir"))

	granted := policyActions(all)
	var unused []string
	// Granted for a path the seeds' happy runs do not take.
	offPath := map[string]string{"eks:DescribeUpdate": "explains an update EKS reports failed (aws.eks.scaleNodegroup)"}
	for a := range granted {
		if _, ok := offPath[a]; !called[a] && !ok {
			unused = append(unused, a)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		t.Errorf("the derived policies grant actions no seed step called: %v", unused)
	}
	if len(called) < 12 {
		t.Errorf("the seeds called only %d distinct actions (%v): the test did not run them", len(called), slices.Sorted(maps.Keys(called)))
	}
	t.Logf("%d actions called, all granted: %v", len(called), fmt.Sprint(slices.Sorted(maps.Keys(called))))
}
