package runbook

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// refPattern matches ${secret:NAME} and ${env:NAME}.
var refPattern = regexp.MustCompile(`\$\{(secret|env):([A-Za-z_][A-Za-z0-9_]*)\}`)

// placeholder stands in for a reference while a template is executed.
var placeholder = regexp.MustCompile("\x00(\\d+)\x00")

// stepRef is a {{ .steps.<id>.outputs.<name> }} reference.
type stepRef struct {
	ID, Output string
}

// refs are the references found in one templated string.
type refs struct {
	Params  []string
	Steps   []stepRef
	Secrets []string
	Envs    []string
}

// analyse parses a templated string and returns what it references, and
// problems as messages (the string does not parse, an unknown field or
// reference form).
func analyse(s string) (refs, []string) {
	var r refs
	var probs []string
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		if m[1] == "secret" {
			r.Secrets = append(r.Secrets, m[2])
		} else {
			r.Envs = append(r.Envs, m[2])
		}
	}
	if rest := refPattern.ReplaceAllString(s, ""); strings.Contains(rest, "${") {
		i := strings.Index(rest, "${")
		bad := rest[i:]
		if j := strings.Index(bad, "}"); j >= 0 {
			bad = bad[:j+1]
		}
		probs = append(probs, fmt.Sprintf("bad reference %q (use ${secret:NAME} or ${env:NAME})", bad))
	}
	if !strings.Contains(s, "{{") {
		return r, probs
	}
	t, err := template.New("value").Option("missingkey=error").Parse(refPattern.ReplaceAllString(s, ""))
	if err != nil {
		return r, append(probs, "template does not parse: "+strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Name() != "value" {
			probs = append(probs, "defining templates is not supported")
		}
	}
	w := &walker{refs: &r, probs: &probs}
	if t.Tree != nil {
		w.node(t.Tree.Root, true)
	}
	return r, probs
}

type walker struct {
	refs  *refs
	probs *[]string
}

// node walks a parse tree; root reports whether dot is the template data
// (inside range and with it is not, and fields there are not checked).
func (w *walker) node(n parse.Node, root bool) {
	switch n := n.(type) {
	case nil:
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c, root)
		}
	case *parse.ActionNode:
		w.node(n.Pipe, root)
	case *parse.IfNode:
		w.node(n.Pipe, root)
		w.node(n.List, root)
		w.node(n.ElseList, root)
	case *parse.RangeNode:
		w.node(n.Pipe, root)
		w.node(n.List, false)
		w.node(n.ElseList, root)
	case *parse.WithNode:
		w.node(n.Pipe, root)
		w.node(n.List, false)
		w.node(n.ElseList, root)
	case *parse.TemplateNode:
		*w.probs = append(*w.probs, "{{ template }} is not supported")
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			w.node(c, root)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			w.node(a, root)
		}
	case *parse.ChainNode:
		w.node(n.Node, root)
	case *parse.FieldNode:
		if root {
			w.field(n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			w.field(n.Ident[1:])
		}
	}
}

func (w *walker) field(ident []string) {
	path := "." + strings.Join(ident, ".")
	switch ident[0] {
	case "params":
		if len(ident) != 2 {
			*w.probs = append(*w.probs, fmt.Sprintf("bad reference %s (use .params.<name>)", path))
			return
		}
		w.refs.Params = append(w.refs.Params, ident[1])
	case "steps":
		if len(ident) != 4 || ident[2] != "outputs" {
			*w.probs = append(*w.probs, fmt.Sprintf("bad reference %s (use .steps.<id>.outputs.<name>)", path))
			return
		}
		w.refs.Steps = append(w.refs.Steps, stepRef{ID: ident[1], Output: ident[3]})
	default:
		*w.probs = append(*w.probs, fmt.Sprintf("unknown template field %s (use .params.<name> or .steps.<id>.outputs.<name>)", path))
	}
}

// templateData is what templates see: .params and .steps.<id>.outputs.
func templateData(vars Vars) map[string]any {
	st := make(map[string]any, len(vars.Outputs))
	for id, outs := range vars.Outputs {
		st[id] = map[string]any{"outputs": maps.Clone(outs)}
	}
	params := maps.Clone(vars.Params)
	if params == nil {
		params = map[string]string{}
	}
	return map[string]any{"params": params, "steps": st}
}

// expander expands templated strings at run time.
type expander struct {
	secrets *secret.Resolver
	env     func(string) (string, bool)
}

// expand renders s: ${secret:…}/${env:…} are set aside first, the template
// is executed, and the references are put back resolved, so that a
// parameter or output value is never itself expanded as a reference.
func (e *expander) expand(s string, data map[string]any) (string, error) {
	var found []string
	text := refPattern.ReplaceAllStringFunc(s, func(m string) string {
		found = append(found, m)
		return fmt.Sprintf("\x00%d\x00", len(found)-1)
	})
	if strings.Contains(text, "{{") {
		t, err := template.New("value").Option("missingkey=error").Parse(text)
		if err != nil {
			return "", fmt.Errorf("parse template: %w", err)
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return "", fmt.Errorf("expand template: %w", err)
		}
		text = b.String()
		// A parameter or output that itself looks like a template would
		// pass a kind's CheckAndSetDefaults unchecked (templated values
		// are accepted at load time): refuse it rather than hand it on.
		if steps.IsTemplate(text) {
			return "", errors.New("a parameter or step output holds {{ or ${, which is not allowed in expanded values")
		}
	}
	if len(found) == 0 {
		return text, nil
	}
	var err error
	out := placeholder.ReplaceAllStringFunc(text, func(ph string) string {
		var i int
		fmt.Sscanf(strings.Trim(ph, "\x00"), "%d", &i)
		if i >= len(found) || err != nil {
			return ph
		}
		m := refPattern.FindStringSubmatch(found[i])
		v, rerr := e.resolve(m[1], m[2])
		if rerr != nil {
			err = rerr
			return ""
		}
		return v
	})
	return out, err
}

func (e *expander) resolve(kind, name string) (string, error) {
	if kind == "secret" {
		if e.secrets == nil {
			return "", fmt.Errorf("secret %s: no secret resolver configured", name)
		}
		v, err := e.secrets.Resolve(name)
		if err != nil {
			return "", err
		}
		return v.Reveal(), nil
	}
	if e.secrets == nil {
		return "", fmt.Errorf("${env:%s}: no resolver configured", name)
	}
	return e.secrets.Env(name, e.env)
}
