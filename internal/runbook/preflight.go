package runbook

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Preflighter is implemented by factories that can check a step before
// the outputs its templates use exist (the loader's do).
type Preflighter interface {
	// Preflight checks what can be checked with vars and returns the steps
	// whose outputs the rest waits for (nil when the step was built whole).
	Preflight(ctx context.Context, vars Vars) (waitsFor []string, err error)
}

// Preflight checks, before anything runs, that the step can be built: its
// kind is implemented, its templates and secrets expand, its config is
// valid and its connection's client can be made. A step whose templates
// use outputs of steps that have not run (absent from vars) is checked as
// far as it can be — kind, connection, the templates that do not wait —
// and waitsFor names those steps: it is built whole just before it runs.
// A step built whole is closed again. Errors are scrubbed of secrets.
func (s *Step) Preflight(ctx context.Context, vars Vars) (waitsFor []string, err error) {
	if p, ok := s.Factory.(Preflighter); ok {
		return p.Preflight(ctx, vars)
	}
	inst, err := s.Build(ctx, vars)
	if err != nil {
		return nil, err
	}
	if c, ok := inst.(steps.Closer); ok {
		_ = c.Close()
	}
	return nil, nil
}

// Preflight implements Preflighter.
func (f *stepFactory) Preflight(ctx context.Context, vars Vars) ([]string, error) {
	waits := f.waitsFor(vars)
	if len(waits) == 0 {
		inst, err := f.Build(ctx, vars)
		if err != nil {
			return nil, err
		}
		if c, ok := inst.(steps.Closer); ok {
			_ = c.Close()
		}
		return nil, nil
	}
	if err := f.partial(ctx, vars, waits); err != nil {
		return waits, f.opts.secrets.Redactor.ScrubError(fmt.Errorf("build step %s (%s): %w", f.raw.ID.Value, f.kind.Name(), err))
	}
	return waits, nil
}

// waitsFor lists the steps whose outputs the step's config uses and vars
// lacks.
func (f *stepFactory) waitsFor(vars Vars) []string {
	missing := map[string]bool{}
	forEachString(f.raw.With, "with", func(n *yaml.Node, _ string) {
		if !steps.IsTemplate(n.Value) {
			return
		}
		r, _ := analyse(n.Value)
		for _, ref := range r.Steps {
			if _, ok := vars.Outputs[ref.ID]; !ok {
				missing[ref.ID] = true
			}
		}
	})
	return slices.Sorted(maps.Keys(missing))
}

// partial checks a step that waits for outputs: its kind, the templates
// that do not wait, and its connection.
func (f *stepFactory) partial(ctx context.Context, vars Vars, waits []string) error {
	if !f.kind.Implemented() {
		return fmt.Errorf("step kind %s is declared but not implemented yet", f.kind.Name())
	}
	data := templateData(vars)
	var errs []error
	forEachString(f.raw.With, "with", func(n *yaml.Node, path string) {
		if !steps.IsTemplate(n.Value) {
			return
		}
		r, _ := analyse(n.Value)
		for _, ref := range r.Steps {
			if slices.Contains(waits, ref.ID) {
				return // checked when the step runs
			}
		}
		if _, err := f.exp.expand(n.Value, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	})
	if f.kind.Connection() != "" {
		if _, err := f.connect(ctx, data); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// connect expands the step's connection and checks that its client can be
// made (ConnectionType.Check).
func (f *stepFactory) connect(ctx context.Context, data map[string]any) (*steps.Connection, error) {
	conn, err := f.connection(f.raw.Connection.Value, data)
	if err != nil {
		return nil, err
	}
	if t, ok := f.reg.ConnectionType(conn.Type); ok && t.Check != nil {
		if err := t.Check(ctx, conn); err != nil {
			return nil, fmt.Errorf("connection %s: %w", conn.Name, err)
		}
	}
	return conn, nil
}
