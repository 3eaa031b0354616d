package runbook

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// BindParams checks the values given to plan/start against the declared
// parameters and returns every declared parameter's value: given, else the
// default, else "". Unknown and missing required parameters, and values
// that look like templates or references, are errors, all reported at once.
func (rb *Runbook) BindParams(given map[string]string) (map[string]string, error) {
	declared := make([]string, 0, len(rb.Params))
	var errs []error
	for _, p := range rb.Params {
		declared = append(declared, p.Name)
		v, ok := given[p.Name]
		switch {
		case ok && steps.IsTemplate(v):
			errs = append(errs, fmt.Errorf("parameter %s: a value cannot hold {{ or ${", p.Name))
		case ok:
		case p.Required:
			what := ""
			if p.Description != "" {
				what = ": " + p.Description
			}
			errs = append(errs, fmt.Errorf("missing required parameter %s%s (give it as %s=<value>)", p.Name, what, p.Name))
		}
	}
	var unknown []string
	for name := range given {
		if !slices.Contains(declared, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		hint := " (runbook " + rb.Name + " takes no parameters)"
		if len(declared) > 0 {
			hint = suggest(name, declared)
			if hint == "" {
				hint = " (runbook " + rb.Name + " takes: " + strings.Join(declared, ", ") + ")"
			}
		}
		errs = append(errs, fmt.Errorf("unknown parameter %s%s", name, hint))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rb.ParamsWithDefaults(given), nil
}

// ParamsWithDefaults returns given with every declared parameter it lacks
// set to its default ("" when there is none): the template data of a run
// (whose parameters BindParams checked when it was requested) or of an
// assessment. It checks nothing.
func (rb *Runbook) ParamsWithDefaults(given map[string]string) map[string]string {
	out := make(map[string]string, len(rb.Params)+len(given))
	for k, v := range given {
		out[k] = v
	}
	for _, p := range rb.Params {
		if _, ok := out[p.Name]; !ok {
			out[p.Name] = p.Default
		}
	}
	return out
}

// CheckSecrets resolves every ${secret:NAME} the runbook references (in
// connection fields and step configs) and reports, as a *ValidationError,
// each one that cannot be resolved with the place it is referenced. It
// never prints a secret's value. Call it before plan/start, so that a
// missing secret stops a run before anything runs.
func (rb *Runbook) CheckSecrets(res *secret.Resolver) error {
	if rb.src == nil {
		return nil
	}
	var list []Issue
	check := func(s string, line int, field string) {
		for _, name := range secret.Refs(s) {
			if _, err := res.Resolve(name); err != nil {
				msg := res.Redactor.Scrub(err.Error())
				list = append(list, Issue{File: rb.Source, Line: line, Field: field, Msg: msg})
			}
		}
	}
	for _, c := range rb.src.Connections {
		for _, f := range c.Fields {
			check(f.Value, f.Line, join(join("connections", c.Name), f.Name))
		}
	}
	var all []*rawStep
	all = append(all, rb.src.Assess...)
	for _, p := range rb.src.Phases {
		all = append(all, p.Steps...)
	}
	for _, s := range all {
		forEachString(s.With, join(s.Path, "with"), func(n *yaml.Node, path string) {
			check(n.Value, n.Line, path)
		})
	}
	if verr := newValidationError(list); verr != nil {
		return verr
	}
	return nil
}
