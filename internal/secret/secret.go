// Package secret resolves ${secret:NAME} references and scrubs resolved
// values out of any text that leaves the process (Slack, logs, errors, the
// audit trail).
package secret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// RefPattern matches a secret reference: ${secret:NAME}.
var RefPattern = regexp.MustCompile(`\$\{secret:([A-Za-z_][A-Za-z0-9_]*)\}`)

// ErrNotFound is returned when a referenced secret has no value.
var ErrNotFound = errors.New("secret not found")

// Value is a secret that redacts itself when printed, logged or marshalled.
type Value string

// String returns a redaction marker, never the value.
func (Value) String() string { return Redacted }

// GoString returns a redaction marker, never the value.
func (Value) GoString() string { return Redacted }

// MarshalJSON returns a redaction marker, never the value.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// Reveal returns the secret's value, for the one place that must use it.
func (v Value) Reveal() string { return string(v) }

// Redacted replaces secret values in scrubbed text.
const Redacted = "[redacted]"

// Resolver finds the values of a runbook's references under its Policy:
// ${secret:NAME} from the file NAME in Dir (a mounted Kubernetes secret),
// else from the environment variable Policy.SecretPrefix+NAME;
// ${env:NAME} (Env) from the environment variables the policy allows.
// Every secret it hands out is remembered by its Redactor, with its parts
// (a DSN's password).
type Resolver struct {
	// Dir is a directory of files named after secrets; empty means none.
	Dir string
	// Lookup reads the environment; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
	// Redactor learns every resolved value; nil means none.
	Redactor *Redactor
	// Policy says which variables references may read; the zero value
	// is the default policy.
	Policy Policy
}

func (r *Resolver) lookup(name string) (string, bool) {
	if r.Lookup == nil {
		return os.LookupEnv(name)
	}
	return r.Lookup(name)
}

// Resolve returns the value of the secret NAME.
func (r *Resolver) Resolve(name string) (Value, error) {
	if !namePattern.MatchString(name) {
		return "", fmt.Errorf("secret %q: not a secret name (letters, digits and _)", name)
	}
	if err := r.Policy.CheckSecret(name); err != nil {
		return "", err
	}
	v, err := r.find(name)
	if err != nil {
		return "", err
	}
	if err := r.Policy.checkValue("${secret:"+name+"}", v); err != nil {
		return "", err
	}
	r.Redactor.Add(v)
	return Value(v), nil
}

func (r *Resolver) find(name string) (string, error) {
	where := "no secrets directory is configured"
	if r.Dir != "" {
		b, err := os.ReadFile(filepath.Join(r.Dir, name))
		if err == nil {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read secret %s from %s: %w", name, r.Dir, errors.Unwrap(err))
		}
		where = fmt.Sprintf("no file %s in the secrets directory %s", name, r.Dir)
	}
	env := r.Policy.secretPrefix() + name
	if v, ok := r.lookup(env); ok && v != "" {
		return v, nil
	}
	return "", fmt.Errorf("secret %s: %w (%s, and the environment variable %s is not set)", name, ErrNotFound, where, env)
}

// Env returns the value of ${env:name}, if the policy allows it, read
// with lookup (nil means the Resolver's Lookup). The value is not a
// secret and the Redactor does not learn it.
func (r *Resolver) Env(name string, lookup func(string) (string, bool)) (string, error) {
	if err := r.Policy.CheckEnv(name); err != nil {
		return "", err
	}
	if lookup == nil {
		lookup = r.lookup
	}
	v, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	if err := r.Policy.checkValue("${env:"+name+"}", v); err != nil {
		return "", err
	}
	return v, nil
}

// CheckRef says whether the reference ${kind:name} (kind secret or env)
// may be resolved under the policy, without resolving it: a runbook that
// names a refused reference is refused when it is loaded.
func (r *Resolver) CheckRef(kind, name string) error {
	if kind == "env" {
		return r.Policy.CheckEnv(name)
	}
	return r.Policy.CheckSecret(name)
}

// Expand replaces every ${secret:NAME} in s by its value.
func (r *Resolver) Expand(s string) (string, error) {
	var errs []error
	out := RefPattern.ReplaceAllStringFunc(s, func(ref string) string {
		name := RefPattern.FindStringSubmatch(ref)[1]
		v, err := r.Resolve(name)
		if err != nil {
			errs = append(errs, err)
			return ref
		}
		return v.Reveal()
	})
	return out, errors.Join(errs...)
}

// Refs returns the secret names referenced in s.
func Refs(s string) []string {
	var names []string
	for _, m := range RefPattern.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

// Redactor scrubs known secret values out of text. The zero value is ready;
// a nil *Redactor scrubs nothing. It is safe for concurrent use.
type Redactor struct {
	mu sync.RWMutex
	// values, longest first: a value is scrubbed before any shorter one
	// inside it, so that no remnant of it is left.
	values []string
}

// minLen keeps one-character "secrets" from shredding every message.
const minLen = 4

// Add remembers a value to scrub, and the parts of a structured value (the
// password of a DSN or of a URL's user info, in the forms it is printed).
func (r *Redactor) Add(v string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range append([]string{v}, parts(v)...) {
		r.addLocked(x)
	}
}

func (r *Redactor) addLocked(v string) {
	if len(v) < minLen || slices.Contains(r.values, v) {
		return
	}
	i, _ := slices.BinarySearchFunc(r.values, v, func(have, v string) int { return len(v) - len(have) })
	r.values = slices.Insert(r.values, i, v)
}

// Scrub returns s with every known secret value replaced by [redacted].
func (r *Redactor) Scrub(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

// ScrubError returns an error whose message is scrubbed; it keeps err in its
// chain for errors.Is/As (the chain's own messages are never printed by it).
func (r *Redactor) ScrubError(err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := err.Error()
	if clean := r.Scrub(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
