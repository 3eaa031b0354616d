package runbook

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file checks what steps refer to: needs, alternativeOf and the
// templates of `with` and `when`, and finds cycles in needs.

// stepRefs checks one step's references to other steps and parameters.
func (v *validator) stepRefs(si *stepInfo) {
	s := si.raw
	for i, n := range s.Needs {
		path := index(join(s.Path, "needs"), i)
		if si.phase < 0 {
			v.add(n.Line, path, "assess checks all run at once: needs is not allowed")
			continue
		}
		t, ok := v.byID[n.Value]
		switch {
		case n.Value == s.ID.Value:
			v.add(n.Line, path, "a step cannot need itself")
		case !ok:
			v.add(n.Line, path, "unknown step %q%s", n.Value, suggest(n.Value, keys(v.byID)))
		case t.phase < 0:
			v.add(n.Line, path, "%s is an assess check, not a step of a phase", n.Value)
		case t.phase > si.phase:
			v.add(n.Line, path, "step %s is in a later phase (%s): needs may only name steps of this or earlier phases", n.Value, v.raw.Phases[t.phase].ID.Value)
		}
	}
	if a := s.AlternativeOf; a.Set && a.Value != "" {
		path := join(s.Path, "alternativeOf")
		t, ok := v.byID[a.Value]
		switch {
		case si.phase < 0:
			v.add(a.Line, path, "assess checks cannot be alternatives")
		case a.Value == s.ID.Value:
			v.add(a.Line, path, "a step cannot be an alternative of itself")
		case !ok:
			v.add(a.Line, path, "unknown step %q%s", a.Value, suggest(a.Value, keys(v.byID)))
		case t.phase != si.phase:
			v.add(a.Line, path, "step %s is not in the same phase: an alternative must be in the phase of the step it replaces", a.Value)
		}
	}
	if c := s.Connection; si.phase < 0 && c.Set && v.connRun[c.Value] != "" {
		v.add(c.Line, join(s.Path, "connection"), "connection %s uses %s, which is not known in an assess check (assessments run outside any run)", c.Value, v.connRun[c.Value])
	}
	forEachString(s.With, join(s.Path, "with"), func(n *yaml.Node, path string) {
		v.template(n.Value, n.Line, path, si, false)
	})
	if w := s.When; w.Set {
		path := join(s.Path, "when")
		if w.Value == "" {
			v.add(w.Line, path, "empty condition")
		}
		r := v.template(w.Value, w.Line, path, si, false)
		if len(r.Secrets) > 0 {
			v.add(w.Line, path, "secrets cannot be used in a condition")
		}
	}
}

// forEachString calls fn for every string scalar value under n.
func forEachString(n *yaml.Node, path string, fn func(n *yaml.Node, path string)) {
	walkStrings(n, path, fn, 0)
}

func walkStrings(n *yaml.Node, path string, fn func(n *yaml.Node, path string), depth int) {
	n = deref(n)
	if n == nil || depth > 64 {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			fn(n, path)
		}
	case yaml.MappingNode:
		for _, p := range pairs(n, 0) {
			walkStrings(p.val, join(path, p.key.Value), fn, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkStrings(c, index(path, i), fn, depth+1)
		}
	}
}

// template checks a templated string of step si (nil for a connection
// field) and returns its references.
func (v *validator) template(s string, line int, path string, si *stepInfo, inConnection bool) refs {
	r, probs := analyse(s)
	for _, p := range probs {
		v.add(line, path, "%s", p)
	}
	if v.policy != nil {
		for _, kind := range []struct {
			name  string
			names []string
		}{{"env", r.Envs}, {"secret", r.Secrets}} {
			for _, n := range kind.names {
				if err := v.policy.CheckRef(kind.name, n); err != nil {
					v.add(line, path, "%s", err.Error())
				}
			}
		}
	}
	for _, p := range r.Params {
		if !v.params[p] {
			v.add(line, path, "unknown parameter %q%s", p, paramHint(p, keys(v.params)))
		}
	}
	if len(r.Run) > 0 && si != nil && si.phase < 0 {
		v.add(line, path, ".run.%s is not known in an assess check (assessments run outside any run)", r.Run[0])
	}
	for _, ref := range r.Steps {
		if inConnection {
			v.add(line, path, "connection fields cannot use step outputs (.steps.%s.outputs.%s)", ref.ID, ref.Output)
			continue
		}
		v.outputRef(si, ref, line, path)
	}
	return r
}

func paramHint(name string, declared []string) string {
	if s := suggest(name, declared); s != "" {
		return s
	}
	if len(declared) == 0 {
		return " (the runbook declares no params)"
	}
	return " (declared: " + strings.Join(declared, ", ") + ")"
}

// outputRef checks {{ .steps.<id>.outputs.<name> }} used by step si: the
// step exists, surely runs before si, and its kind declares the output.
func (v *validator) outputRef(si *stepInfo, ref stepRef, line int, path string) {
	t, ok := v.byID[ref.ID]
	switch {
	case !ok:
		v.add(line, path, "unknown step %q in .steps.%s.outputs.%s%s", ref.ID, ref.ID, ref.Output, suggest(ref.ID, keys(v.byID)))
		return
	case si.phase < 0:
		v.add(line, path, "assess checks all run at once and cannot use step outputs (.steps.%s.outputs.%s)", ref.ID, ref.Output)
		return
	case t.phase < 0:
		v.add(line, path, "%s is an assess check: its outputs are not available to phase steps", ref.ID)
		return
	case t == si:
		v.add(line, path, "a step cannot use its own outputs")
		return
	case t.raw.AlternativeOf.Value != "":
		v.add(line, path, "step %s is an alternative of %s and only runs if that fails: its outputs are not guaranteed", ref.ID, t.raw.AlternativeOf.Value)
		return
	case t.phase > si.phase || (t.phase == si.phase && !v.before(si)[ref.ID]):
		v.add(line, path, "step %s is not guaranteed to run before %s: add it to needs or move it to an earlier phase", ref.ID, si.raw.ID.Value)
		return
	}
	if t.known && !slices.Contains(t.kind.Outputs(), ref.Output) {
		outs := "none"
		if len(t.kind.Outputs()) > 0 {
			outs = strings.Join(t.kind.Outputs(), ", ")
		}
		v.add(line, path, "step %s (kind %s) has no output %q (its outputs: %s)", ref.ID, t.kind.Name(), ref.Output, outs)
	}
}

// before returns the IDs reachable from si through needs.
func (v *validator) before(si *stepInfo) map[string]bool {
	seen := map[string]bool{}
	var visit func(*stepInfo)
	visit = func(s *stepInfo) {
		for _, n := range s.raw.Needs {
			t, ok := v.byID[n.Value]
			if !ok || seen[n.Value] {
				continue
			}
			seen[n.Value] = true
			visit(t)
		}
	}
	visit(si)
	return seen
}

// cycles reports each cycle in needs once, naming it.
func (v *validator) cycles() {
	const (
		white = iota
		grey
		black
	)
	color := map[*stepInfo]int{}
	reported := map[string]bool{}
	var stack []*stepInfo
	var visit func(s *stepInfo)
	visit = func(s *stepInfo) {
		color[s] = grey
		stack = append(stack, s)
		for i, n := range s.raw.Needs {
			t, ok := v.byID[n.Value]
			if !ok || t.phase < 0 || t == s {
				continue
			}
			switch color[t] {
			case white:
				visit(t)
			case grey:
				start := slices.Index(stack, t)
				cyc := stack[start:]
				ids := make([]string, 0, len(cyc)+1)
				for _, c := range cyc {
					ids = append(ids, c.raw.ID.Value)
				}
				key := canonicalCycle(ids)
				if !reported[key] {
					reported[key] = true
					ids = append(ids, t.raw.ID.Value)
					v.add(n.Line, index(join(s.raw.Path, "needs"), i), "needs cycle: %s", strings.Join(ids, " → "))
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[s] = black
	}
	for _, s := range v.order {
		if s.phase >= 0 && color[s] == white && v.byID[s.raw.ID.Value] == s {
			visit(s)
		}
	}
}

// canonicalCycle names a cycle independently of where it was entered.
func canonicalCycle(ids []string) string {
	m := 0
	for i := range ids {
		if ids[i] < ids[m] {
			m = i
		}
	}
	return fmt.Sprint(append(slices.Clone(ids[m:]), ids[:m]...))
}
