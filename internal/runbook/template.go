package runbook

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

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
	Run     []string // fields of .run
	Secrets []string
	Envs    []string
}

// runFields are the fields of {{ .run.<field> }}.
var runFields = []string{"id", "requester", "startedAt", "approvers"}

// templateFuncs are the functions templates have besides text/template's
// own: now gives now() in RFC 3339 UTC, join joins a list with a separator
// (sprig's argument order, so that {{ .run.approvers | join ", " }} works).
func templateFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		"now":  func() string { return now().UTC().Format(time.RFC3339) },
		"join": func(sep string, items []string) string { return strings.Join(items, sep) },
	}
}

// funcNames lists every function a template may call, sorted: ours and
// text/template's builtins.
var funcNames = func() []string {
	names := []string{"and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne",
		"not", "or", "print", "printf", "println", "slice", "urlquery"}
	for n := range templateFuncs(time.Now) {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}()

// parseTemplate parses a value's template text with the template functions.
func parseTemplate(text string, now func() time.Time) (*template.Template, error) {
	return template.New("value").Option("missingkey=error").Funcs(templateFuncs(now)).Parse(text)
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
	text := refPattern.ReplaceAllString(s, "")
	t, err := parseTemplate(text, time.Now)
	if err != nil {
		return r, append(probs, parseProblem(err, text))
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
	case "run":
		if len(ident) != 2 || !slices.Contains(runFields, ident[1]) {
			*w.probs = append(*w.probs, fmt.Sprintf("bad reference %s (use .run.%s)", path, strings.Join(runFields, ", .run.")))
			return
		}
		w.refs.Run = append(w.refs.Run, ident[1])
	default:
		*w.probs = append(*w.probs, fmt.Sprintf("unknown template field %s (use .params.<name>, .steps.<id>.outputs.<name> or .run.<field>)", path))
	}
}

// tmplData is what the templates of one build see: .params,
// .steps.<id>.outputs, .run (in a run) and the time {{ now }} gives.
type tmplData struct {
	m   map[string]any
	now time.Time
}

// approverList renders as "a,b" and is a list for join, range and len.
type approverList []string

func (l approverList) String() string { return strings.Join(l, ",") }

// templateData is the template data of vars; {{ now }} is vars.Now, else
// the time now, taken once so that every field of a step sees the same.
func templateData(vars Vars) tmplData {
	st := make(map[string]any, len(vars.Outputs))
	for id, outs := range vars.Outputs {
		st[id] = map[string]any{"outputs": maps.Clone(outs)}
	}
	params := maps.Clone(vars.Params)
	if params == nil {
		params = map[string]string{}
	}
	m := map[string]any{"params": params, "steps": st}
	if r := vars.Run; r != nil {
		started := ""
		if !r.StartedAt.IsZero() {
			started = r.StartedAt.UTC().Format(time.RFC3339)
		}
		m["run"] = map[string]any{"id": r.ID, "requester": r.Requester, "startedAt": started,
			"approvers": approverList(slices.Clone(r.Approvers))}
	}
	now := vars.Now
	if now.IsZero() {
		now = time.Now()
	}
	return tmplData{m: m, now: now}
}

// expander expands templated strings at run time.
type expander struct {
	secrets *secret.Resolver
	env     func(string) (string, bool)
}

// expand renders s: ${secret:…}/${env:…} are set aside first, the template
// is executed, and the references are put back resolved, so that a
// parameter or output value is never itself expanded as a reference.
func (e *expander) expand(s string, data tmplData) (string, error) {
	var found []string
	text := refPattern.ReplaceAllStringFunc(s, func(m string) string {
		found = append(found, m)
		return fmt.Sprintf("\x00%d\x00", len(found)-1)
	})
	if strings.Contains(text, "{{") {
		t, err := parseTemplate(text, func() time.Time { return data.now })
		if err != nil {
			return "", errors.New(parseProblem(err, text))
		}
		var b strings.Builder
		if err := t.Execute(&b, data.m); err != nil {
			return "", execProblem(err, text)
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
