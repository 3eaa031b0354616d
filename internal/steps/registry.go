package steps

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
)

// Connection is a named connection of a runbook (a cluster, a database, a
// Redis deployment, an AWS account/region), with templates and secrets
// already expanded. Fields hold secret values: never log or print them.
type Connection struct {
	Name   string
	Type   string
	Region string
	Fields map[string]string
}

// Env is what a kind's constructor gets besides its config.
type Env struct {
	// Conn is the step's connection, or nil for kinds that need none.
	Conn   *Connection
	Logger *slog.Logger
}

// Kind describes one step kind: its name, its config schema and how to build
// a Step from a validated config.
type Kind struct {
	// Name is the name runbooks use, e.g. "postgres.promote".
	Name string
	// Doc is one line shown by `bot kinds` and in errors.
	Doc string
	// ReadOnly kinds only observe: the executor never calls Apply; it polls
	// Check until Done or the deadline.
	ReadOnly bool
	// Connection is the connection type the step needs ("postgres",
	// "redis", "kubernetes", "aws", …), or "" for none.
	Connection string
	// Outputs are the names of the outputs Check may produce.
	Outputs []string
	// NewConfig returns a pointer to a zero config, for strict decoding.
	NewConfig func() Config
	// New builds a step from a decoded, validated, template-expanded config.
	// It is nil for kinds declared (so runbooks validate) but not yet
	// implemented; running such a step fails with a clear error.
	New func(ctx context.Context, cfg Config, env Env) (Step, error)
}

// ConnectionType describes the fields a connection type accepts.
type ConnectionType struct {
	Name     string
	Required []string
	Optional []string
}

// Registry maps kind names to kinds and connection type names to types.
// It is built once at start-up by explicit registration; a name collision
// is an error.
type Registry struct {
	kinds map[string]Kind
	conns map[string]ConnectionType
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{kinds: map[string]Kind{}, conns: map[string]ConnectionType{}}
}

// Register adds kinds; it fails on a duplicate name or an incomplete kind.
func (r *Registry) Register(kinds ...Kind) error {
	for _, k := range kinds {
		if k.Name == "" || k.NewConfig == nil {
			return fmt.Errorf("register step kind %q: name and NewConfig are required", k.Name)
		}
		if _, dup := r.kinds[k.Name]; dup {
			return fmt.Errorf("register step kind %q: kind collision: already registered", k.Name)
		}
		r.kinds[k.Name] = k
	}
	return nil
}

// RegisterConnection adds connection types; it fails on a duplicate name.
func (r *Registry) RegisterConnection(types ...ConnectionType) error {
	for _, t := range types {
		if _, dup := r.conns[t.Name]; dup {
			return fmt.Errorf("register connection type %q: already registered", t.Name)
		}
		r.conns[t.Name] = t
	}
	return nil
}

// Kind returns the kind registered under name.
func (r *Registry) Kind(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// ConnectionType returns the connection type registered under name.
func (r *Registry) ConnectionType(name string) (ConnectionType, bool) {
	t, ok := r.conns[name]
	return t, ok
}

// Kinds returns the registered kind names, sorted.
func (r *Registry) Kinds() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConnectionTypes returns the registered connection type names, sorted.
func (r *Registry) ConnectionTypes() []string {
	names := make([]string, 0, len(r.conns))
	for n := range r.conns {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
