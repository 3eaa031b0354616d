package steps

import (
	"context"
	"fmt"
	"slices"
)

// Spec is what a kind is besides its config and its code: the name
// runbooks use, one line of documentation, the connection type it needs and
// the outputs its Check may produce.
type Spec struct {
	// Name is the name runbooks use, e.g. "postgres.promote".
	Name string
	// Doc is one line shown by `bot kinds` and in errors.
	Doc string
	// Connection is the connection type the step needs ("postgres",
	// "redis", "kubernetes", "aws", …), or "" for none.
	Connection string
	// Outputs are the names of the outputs Check may produce; templates of
	// later steps may only name these.
	Outputs []string
}

// Kind is one step kind: its Spec, its config type and how to build an
// instance from a checked config. Make one with ProbeKind or StepKind (or
// DeclaredProbe / DeclaredStep while the code is still to be written); the
// zero Kind is incomplete and the registry refuses it.
type Kind struct {
	spec      Spec
	readOnly  bool
	newConfig func() Config
	// build is nil for declared kinds.
	build func(ctx context.Context, cfg Config, env Env) (Probe, error)
}

// ProbeKind defines a read-only kind: build gets the kind's own config
// type, filled and checked by CheckAndSetDefaults with templates expanded,
// and returns a Probe. The executor never calls Apply on it.
func ProbeKind[C any, P interface {
	*C
	Config
}](s Spec, build func(ctx context.Context, cfg P, env Env) (Probe, error)) Kind {
	return newKind[C, P](s, true, build)
}

// StepKind defines a kind that changes something: build gets the kind's
// own config type, filled and checked by CheckAndSetDefaults with
// templates expanded, and returns a Step.
func StepKind[C any, P interface {
	*C
	Config
}](s Spec, build func(ctx context.Context, cfg P, env Env) (Step, error)) Kind {
	return newKind[C, P](s, false, func(ctx context.Context, cfg P, env Env) (Probe, error) {
		st, err := build(ctx, cfg, env)
		if err != nil {
			return nil, err
		}
		return st, nil
	})
}

// DeclaredProbe declares a read-only kind whose code is still to be
// written: runbooks using it validate and plan; building it fails with
// "declared but not implemented yet".
func DeclaredProbe[C any, P interface {
	*C
	Config
}](s Spec) Kind {
	return newKind[C, P](s, true, nil)
}

// DeclaredStep declares a kind that changes something and whose code is
// still to be written (see DeclaredProbe).
func DeclaredStep[C any, P interface {
	*C
	Config
}](s Spec) Kind {
	return newKind[C, P](s, false, nil)
}

func newKind[C any, P interface {
	*C
	Config
}](s Spec, readOnly bool, build func(ctx context.Context, cfg P, env Env) (Probe, error)) Kind {
	k := Kind{spec: s, readOnly: readOnly, newConfig: func() Config { return P(new(C)) }}
	k.spec.Outputs = slices.Clone(s.Outputs)
	if build != nil {
		k.build = func(ctx context.Context, cfg Config, env Env) (Probe, error) {
			c, ok := cfg.(P)
			if !ok {
				return nil, Permanentf("step kind %s: config is %T, want %T", s.Name, cfg, P(nil))
			}
			p, err := build(ctx, c, env)
			if err != nil {
				return nil, err // not a typed nil in a non-nil Probe
			}
			return p, nil
		}
	}
	return k
}

// Name is the name runbooks use, e.g. "postgres.promote".
func (k Kind) Name() string { return k.spec.Name }

// Doc is the kind's one line of documentation.
func (k Kind) Doc() string { return k.spec.Doc }

// Connection is the connection type the kind needs, or "" for none.
func (k Kind) Connection() string { return k.spec.Connection }

// Outputs are the names of the outputs the kind's Check may produce.
func (k Kind) Outputs() []string { return slices.Clone(k.spec.Outputs) }

// ReadOnly reports whether the kind only observes (ProbeKind,
// DeclaredProbe): the executor never calls Apply on its instances and may
// run it in assessments.
func (k Kind) ReadOnly() bool { return k.readOnly }

// Implemented reports whether the kind can be built (false for declared
// kinds).
func (k Kind) Implemented() bool { return k.build != nil }

// NewConfig returns a pointer to a zero config of the kind, for strict
// decoding.
func (k Kind) NewConfig() Config { return k.newConfig() }

// Build builds an instance from a config made by NewConfig, decoded with
// templates expanded and filled and checked by CheckAndSetDefaults. For a
// kind made by StepKind the Probe it returns is a Step.
func (k Kind) Build(ctx context.Context, cfg Config, env Env) (Probe, error) {
	if k.build == nil {
		return nil, fmt.Errorf("step kind %s is declared but not implemented yet", k.spec.Name)
	}
	return k.build(ctx, cfg, env)
}
