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

// Resolver finds secret values: first a file named NAME in Dir (a mounted
// Kubernetes secret), then the environment variable NAME. Every value it
// hands out is remembered by its Redactor.
type Resolver struct {
	// Dir is a directory of files named after secrets; empty means none.
	Dir string
	// Lookup reads the environment; nil means os.LookupEnv.
	Lookup func(string) (string, bool)
	// Redactor learns every resolved value; nil means none.
	Redactor *Redactor
}

// Resolve returns the value of the secret NAME.
func (r *Resolver) Resolve(name string) (Value, error) {
	if r.Dir != "" {
		b, err := os.ReadFile(filepath.Join(r.Dir, name))
		if err == nil {
			v := strings.TrimRight(string(b), "\r\n")
			r.Redactor.Add(v)
			return Value(v), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("read secret %s from %s: %w", name, r.Dir, errors.Unwrap(err))
		}
	}
	lookup := r.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if v, ok := lookup(name); ok && v != "" {
		r.Redactor.Add(v)
		return Value(v), nil
	}
	return "", fmt.Errorf("secret %s: %w (set the environment variable %s or a file %s in the secrets directory)", name, ErrNotFound, name, name)
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
	mu     sync.RWMutex
	values []string
}

// minLen keeps one-character "secrets" from shredding every message.
const minLen = 4

// Add remembers a value to scrub.
func (r *Redactor) Add(v string) {
	if r == nil || len(v) < minLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, have := range r.values {
		if have == v {
			return
		}
	}
	r.values = append(r.values, v)
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
