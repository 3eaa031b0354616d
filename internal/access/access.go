// Package access derives the least privilege a set of runbooks needs and
// checks it: the Kubernetes RBAC rules and the AWS IAM policy their steps'
// Checks and Applies need (each kind declares its own next to its code,
// steps.Permissioned: this package only walks the runbooks and merges),
// and, for assess, whether the bot holds them (SelfSubjectAccessReview on
// each cluster; the AWS read-only calls' own AccessDenied).
package access

import (
	"fmt"
	"slices"
	"strings"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// StepNeed is what one step (an assess check or a phase step) needs.
type StepNeed struct {
	Runbook string
	StepID  string
	Kind    string
	// Connection is the step's connection as written (overlay applied).
	Connection *steps.Connection
	Perms      steps.Permissions
	// Err, if set, is why the step's needs could not be derived (a
	// manifest file that is not there): the output says it is not covered.
	Err error
}

// Derive walks the runbooks' assess checks and phase steps (alternatives
// included: they may run) and collects what each one's config declares;
// a step whose needs cannot be derived has Err set.
// A step whose kind declares nothing needs no permission of its own
// (postgres, redis, http: they authenticate with the connection's own
// credentials).
func Derive(rbs []*runbook.Runbook) []StepNeed {
	var out []StepNeed
	for _, rb := range rbs {
		for _, s := range append(slices.Clone(rb.Assess), rb.AllSteps()...) {
			p, ok := s.Config().(steps.Permissioned)
			if !ok {
				continue
			}
			t := rb.PermissionTarget(s)
			perms, err := p.Permissions(t)
			out = append(out, StepNeed{Runbook: rb.Name, StepID: s.ID, Kind: s.Kind, Connection: t.Conn, Perms: perms, Err: err})
		}
	}
	return out
}

// Uncovered lists the steps on connections of type typ whose needs could
// not be derived: "runbook/step (kind): why".
func Uncovered(needs []StepNeed, typ string) []string {
	var out []string
	for _, n := range needs {
		if n.Err != nil && n.Connection != nil && n.Connection.Type == typ {
			out = append(out, fmt.Sprintf("%s (%s): %v: its permissions are NOT in this output", stepName(n), n.Kind, n.Err))
		}
	}
	return out
}

// notes collects distinct notes in order, each naming its steps.
type notes struct {
	uncovered []string
	order     []string
	steps     map[string][]string
}

func (n *notes) add(note, step string) {
	if note == "" {
		return
	}
	if n.steps == nil {
		n.steps = map[string][]string{}
	}
	for _, part := range strings.Split(note, "; ") {
		if _, seen := n.steps[part]; !seen {
			n.order = append(n.order, part)
		}
		if !slices.Contains(n.steps[part], step) {
			n.steps[part] = append(n.steps[part], step)
		}
	}
}

// lines are "note (steps a, b)".
func (n *notes) lines() []string {
	out := make([]string, 0, len(n.order))
	for _, k := range n.order {
		out = append(out, fmt.Sprintf("%s (%s)", k, strings.Join(n.steps[k], ", ")))
	}
	return out
}

func stepName(s StepNeed) string { return s.Runbook + "/" + s.StepID }

func unique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
