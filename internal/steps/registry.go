package steps

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"

	"github.com/failoverbot/failoverbot/internal/secret"
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

// Env is what a kind's build function gets besides its config.
type Env struct {
	// Conn is the step's connection, or nil for kinds that need none.
	Conn *Connection
	// Logger carries the step's id and kind; it may be nil (in tests).
	Logger *slog.Logger
	// Redactor is the run's: it knows every secret the runbook resolved,
	// and a kind adds what it derives from them (a password parsed out of
	// a DSN) so that no message, summary or output anywhere shows them. It
	// may be nil (in tests).
	Redactor *secret.Redactor
	// Dir is the directory of the runbook's file: a file a step's config
	// names (a manifest) is relative to it. "" means the working directory.
	Dir string
}

// ConnectionType describes the fields a connection type accepts.
type ConnectionType struct {
	Name     string
	Required []string
	Optional []string
	// Check, if set, makes the connection's client from its expanded
	// fields without calling the network, so that a connection that can
	// never work (a DSN that does not parse, a kubeconfig context that does
	// not exist, AWS credentials that cannot be loaded) is found before a
	// run starts, also for steps whose config waits for an earlier step's
	// outputs. Its errors never hold a field's value.
	Check func(ctx context.Context, c *Connection) error
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
		if k.spec.Name == "" || k.newConfig == nil {
			return fmt.Errorf("register step kind %q: a name and a config are required (make kinds with ProbeKind, StepKind, DeclaredProbe or DeclaredStep)", k.spec.Name)
		}
		if _, dup := r.kinds[k.spec.Name]; dup {
			return fmt.Errorf("register step kind %q: kind collision: already registered", k.spec.Name)
		}
		r.kinds[k.spec.Name] = k
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
