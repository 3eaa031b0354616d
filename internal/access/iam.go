package access

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
)

// Policy is an AWS IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is an Allow statement of a Policy.
type Statement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// IAMPolicy merges the AWS needs of the steps on the given connections
// (nil: every AWS connection) into one policy: each action on the union
// of its resources (a resource of * absorbs the others), actions with the
// same resources in one statement. It also returns the connections
// covered and the notes on where the policy is wider than it could be.
func IAMPolicy(needs []StepNeed, only []string) (Policy, []string, []string) {
	resources := map[string]map[string]bool{} // action → resources
	var conns []string
	var ns notes
	for _, n := range needs {
		if len(n.Perms.IAM) == 0 || n.Connection == nil || (only != nil && !slices.Contains(only, n.Connection.Name)) {
			continue
		}
		if !slices.Contains(conns, n.Connection.Name) {
			conns = append(conns, n.Connection.Name)
		}
		for _, need := range n.Perms.IAM {
			ns.add(need.Note, stepName(n))
			for _, a := range need.Actions {
				if resources[a] == nil {
					resources[a] = map[string]bool{}
				}
				for _, r := range need.Resources {
					resources[a][r] = true
				}
			}
		}
	}
	byResources := map[string][]string{}
	for a, rs := range resources {
		list := slices.Sorted(maps.Keys(rs))
		if rs["*"] {
			list = []string{"*"}
		}
		k := strings.Join(list, "\n")
		byResources[k] = append(byResources[k], a)
	}
	p := Policy{Version: "2012-10-17"}
	for _, k := range slices.Sorted(maps.Keys(byResources)) {
		p.Statement = append(p.Statement, Statement{Effect: "Allow", Action: unique(byResources[k]), Resource: strings.Split(k, "\n")})
	}
	slices.SortFunc(p.Statement, func(a, b Statement) int { return strings.Compare(a.Action[0], b.Action[0]) })
	return p, conns, ns.lines()
}

// WriteJSON writes the policy as indented JSON.
func (p Policy) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("render IAM policy: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Allows reports whether a statement allows action on resource, with IAM's
// wildcards (* and ? in actions and ARNs; actions match case-insensitively).
func (p Policy) Allows(action, resource string) bool {
	for _, s := range p.Statement {
		if s.Effect != "Allow" {
			continue
		}
		actionOK := slices.ContainsFunc(s.Action, func(a string) bool { return glob(strings.ToLower(a), strings.ToLower(action)) })
		resourceOK := slices.ContainsFunc(s.Resource, func(r string) bool { return glob(r, resource) })
		if actionOK && resourceOK {
			return true
		}
	}
	return false
}

// glob matches IAM's wildcards; path.Match's * stops at "/", which ARNs
// hold, so slashes are swapped out first.
func glob(pattern, s string) bool {
	const sep = "\x00"
	ok, err := path.Match(strings.ReplaceAll(escapeBrackets(pattern), "/", sep), strings.ReplaceAll(s, "/", sep))
	return err == nil && ok
}

func escapeBrackets(s string) string {
	return strings.NewReplacer(`[`, `\[`, `]`, `\]`, `\`, `\\`).Replace(s)
}
