package access

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/failoverbot/failoverbot/internal/executor"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/aws"
	"github.com/failoverbot/failoverbot/internal/steps/kubernetes"
)

// Checker is the executor's AccessChecker: in an assessment, it reports
// per connection whether the bot holds what the runbook's steps need.
// Kubernetes: a SelfSubjectAccessReview of every request of every derived
// rule (a cluster that does not answer is reported, not failed: a failed
// primary is what the assessment looks for). AWS: the Check of every phase
// step (read-only calls: describes, lists) run once, and its AccessDenied
// reported with the action and resource; the changes themselves (a
// promotion) cannot be tried before the run, so they are not checked.
type Checker struct{}

var _ executor.AccessChecker = Checker{}

// CheckAccess implements executor.AccessChecker.
func (Checker) CheckAccess(ctx context.Context, rb *runbook.Runbook) []executor.Check {
	needs := Derive([]*runbook.Runbook{rb})
	var conns []string
	byConn := map[string][]StepNeed{}
	for _, n := range needs {
		if n.Connection == nil {
			continue
		}
		if _, ok := byConn[n.Connection.Name]; !ok {
			conns = append(conns, n.Connection.Name)
		}
		byConn[n.Connection.Name] = append(byConn[n.Connection.Name], n)
	}
	out := make([]executor.Check, len(conns))
	var wg sync.WaitGroup
	for i, name := range conns {
		wg.Go(func() {
			c := executor.Check{ID: "permissions_" + name, Name: "Permissions on " + name}
			switch byConn[name][0].Connection.Type {
			case "kubernetes":
				kubeAccess(ctx, rb, name, byConn[name], &c)
			case "aws":
				awsAccess(ctx, rb, byConn[name], &c)
			default:
				c.OK, c.Summary = true, "nothing to check"
			}
			out[i] = c
		})
	}
	wg.Wait()
	return out
}

func kubeAccess(ctx context.Context, rb *runbook.Runbook, name string, needs []StepNeed, c *executor.Check) {
	var rules []steps.KubeRule
	for _, n := range needs {
		rules = append(rules, n.Perms.Kube...)
	}
	rules = MergeRules(rules)
	conn, err := rb.ExpandConnection(name, nil)
	if err != nil {
		c.NotRun, c.Error = true, "could not check: "+err.Error()
		return
	}
	denied, err := kubernetes.ReviewAccess(ctx, conn, rules)
	if err != nil {
		// Unreachable (or refusing the review): not a missing permission.
		c.OK, c.Summary = true, "not checked: "+err.Error()
		return
	}
	if len(denied) > 0 {
		miss := make([]string, len(denied))
		for i, d := range denied {
			miss[i] = d.String()
		}
		c.Error = fmt.Sprintf("the bot may not: %s (grant them: bot rbac)", strings.Join(miss, "; "))
		return
	}
	c.OK, c.Summary = true, fmt.Sprintf("%d rules allowed (SelfSubjectAccessReview)", len(rules))
}

func awsAccess(ctx context.Context, rb *runbook.Runbook, needs []StepNeed, c *executor.Check) {
	vars := runbook.Vars{Params: rb.ParamsWithDefaults(nil), Outputs: map[string]map[string]string{}}
	var mu sync.Mutex
	var denied []string
	checked := 0
	var wg sync.WaitGroup
	for _, n := range needs {
		s := rb.Step(n.StepID)
		if s == nil {
			continue // an assess check: the assessment runs it
		}
		inst, err := s.Build(ctx, vars)
		if err != nil {
			continue // waits for outputs of earlier steps, or cannot be built: preflight says so
		}
		checked++
		wg.Go(func() {
			defer func() {
				if cl, ok := inst.(steps.Closer); ok {
					_ = cl.Close()
				}
			}()
			_, err := inst.Check(ctx)
			if ad, ok := aws.AsAccessDenied(err); ok {
				mu.Lock()
				denied = append(denied, fmt.Sprintf("%s on %s (step %s)", ad.Action, ad.Resource, s.ID))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(denied) > 0 {
		c.Error = "access denied: " + strings.Join(unique(denied), "; ") + " (grant them: bot iam-policy)"
		return
	}
	c.OK, c.Summary = true, fmt.Sprintf("the read-only calls of %d steps allowed (the changes are only checked when made)", checked)
}
