package runbook

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// stepFactory builds one step at run time from its raw `with` node.
type stepFactory struct {
	rb   *Runbook
	raw  *rawStep
	kind steps.Kind
	reg  *steps.Registry
	opts *options
	exp  *expander
}

var _ Factory = (*stepFactory)(nil)

// attachFactories sets Factory and When on every validated step.
func attachFactories(v *validator, o *options) {
	exp := &expander{secrets: o.secrets, env: o.env}
	v.rb.exp = exp
	for _, si := range v.order {
		si.step.Factory = &stepFactory{rb: v.rb, raw: si.raw, kind: si.kind, reg: v.reg, opts: o, exp: exp}
		if w := si.raw.When; w.Set {
			si.step.When = whenFunc(exp, w.Value, si.raw.Path)
		}
	}
}

// whenFunc renders a condition; it must come out as true or false.
func whenFunc(exp *expander, cond, path string) func(Vars) (bool, error) {
	return func(vars Vars) (bool, error) {
		out, err := exp.expand(cond, templateData(vars))
		if err != nil {
			return false, fmt.Errorf("%s.when: %w", path, err)
		}
		switch strings.TrimSpace(out) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, fmt.Errorf("%s.when: condition gave %q, want true or false", path, strings.TrimSpace(out))
	}
}

// Build expands the step's templates and secrets, decodes its config and
// fills and checks it (CheckAndSetDefaults), resolves its connection and
// builds the instance with the kind's Build. Its errors are scrubbed of
// every secret value the resolver handed out.
func (f *stepFactory) Build(ctx context.Context, vars Vars) (steps.Probe, error) {
	st, err := f.build(ctx, vars)
	if err != nil {
		return nil, f.opts.secrets.Redactor.ScrubError(fmt.Errorf("build step %s (%s): %w", f.raw.ID.Value, f.kind.Name(), err))
	}
	return st, nil
}

func (f *stepFactory) build(ctx context.Context, vars Vars) (steps.Probe, error) {
	if !f.kind.Implemented() {
		return nil, fmt.Errorf("step kind %s is declared but not implemented yet", f.kind.Name())
	}
	data := templateData(vars)
	node := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if f.raw.With != nil {
		node = cloneNode(f.raw.With, 0)
	}
	var errs []error
	forEachString(node, "with", func(n *yaml.Node, path string) {
		if !steps.IsTemplate(n.Value) {
			return
		}
		out, err := f.exp.expand(n.Value, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		n.Value, n.Tag, n.Style = out, "!!str", yaml.DoubleQuotedStyle
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg := f.kind.NewConfig()
	if err := node.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decode with: %w", err)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, fmt.Errorf("with: %w", err)
	}
	red := f.opts.secrets.Redactor
	env := steps.Env{Logger: f.opts.logger.With("step", f.raw.ID.Value, "kind", f.kind.Name()), Redactor: red, Dir: filepath.Dir(f.rb.Source)}
	if f.kind.Connection() != "" {
		conn, err := f.connect(ctx, data)
		if err != nil {
			return nil, err
		}
		env.Conn = conn
	}
	inst, err := f.kind.Build(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	// Whatever the kind says passes the run's redactor.
	return steps.Scrubbed(inst, red), nil
}

// connection expands the named connection's fields. A type with a field
// named region gets the runbook region's cloudRegion unless it sets one.
func (f *stepFactory) connection(name string, data tmplData) (*steps.Connection, error) {
	c, ok := f.rb.Connections[name]
	if !ok {
		return nil, fmt.Errorf("unknown connection %q", name)
	}
	out := &steps.Connection{Name: c.Name, Type: c.Type, Region: c.Region, Fields: make(map[string]string, len(c.Fields)+1)}
	var errs []error
	for k, v := range c.Fields {
		x, err := f.exp.expand(v, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("connections.%s.%s: %w", name, k, err))
			continue
		}
		out.Fields[k] = x
	}
	t, _ := f.reg.ConnectionType(c.Type)
	if _, set := out.Fields["region"]; !set && c.Region != "" && typeHasField(t, "region") {
		if r, ok := f.rb.Regions[c.Region]; ok && r.CloudRegion != "" {
			out.Fields["region"] = r.CloudRegion
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("connection %s: %w", name, err)
	}
	return out, nil
}

// cloneNode deep-copies n, replacing aliases by copies of what they name,
// so that expanding one use of an anchor does not change another.
func cloneNode(n *yaml.Node, depth int) *yaml.Node {
	if n == nil || depth > 64 {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		return cloneNode(n.Alias, depth+1)
	}
	cp := *n
	cp.Anchor = ""
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cp.Content[i] = cloneNode(c, depth+1)
	}
	return &cp
}
