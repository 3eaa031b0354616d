package runbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// Option configures how loaded runbooks build their steps at run time.
type Option func(*options)

type options struct {
	secrets *secret.Resolver
	logger  *slog.Logger
	env     func(string) (string, bool)
	overlay *Overlay
}

// WithSecrets sets the resolver of ${secret:NAME} and ${env:NAME}
// references; its Policy refuses, at load time, a runbook that names what it
// may not read, and its Redactor scrubs every resolved value out of build
// errors and of what steps say. The default has the default policy and a
// Redactor of its own.
func WithSecrets(res *secret.Resolver) Option {
	return func(o *options) { o.secrets = res }
}

// WithLogger sets the logger handed to steps (with step and kind
// attributes). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithEnv sets the lookup of ${env:NAME} references (default os.LookupEnv);
// the resolver's Policy still decides which names may be read.
func WithEnv(lookup func(string) (string, bool)) Option {
	return func(o *options) { o.env = lookup }
}

func newOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if o.secrets == nil {
		o.secrets = &secret.Resolver{}
	}
	if o.secrets.Redactor == nil {
		// A resolver without a Redactor could not scrub build errors.
		cp := *o.secrets
		cp.Redactor = &secret.Redactor{}
		o.secrets = &cp
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.env == nil {
		o.env = os.LookupEnv
	}
	return o
}

// MaxFileSize is the largest runbook file Load reads (1 MiB; the largest
// seed runbook is under 30 KiB): a stray big file in the runbook directory
// costs one bounded read and an error, not a slow bot.
const MaxFileSize = 1 << 20

// Load reads and validates the runbook in the file at path. Errors about
// the runbook's content (and a file over MaxFileSize) are a
// *ValidationError listing every issue.
func Load(path string, reg *steps.Registry, opts ...Option) (*Runbook, error) {
	data, err := readFile(path, "load runbook", "a runbook")
	if err != nil {
		return nil, err
	}
	return Parse(path, data, reg, opts...)
}

// readFile reads the file at path, refusing one over MaxFileSize (as a
// *ValidationError naming what the file is, e.g. "a runbook").
func readFile(path, doing, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", doing, err)
	}
	if len(data) > MaxFileSize {
		return nil, newValidationError([]Issue{{File: path,
			Msg: fmt.Sprintf("the file is larger than %d bytes (1 MiB), the limit of %s: it is not read", MaxFileSize, what)}})
	}
	return data, nil
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserErrors are the messages of yaml.v3's parser, as opposed to its
// scanner: their line numbers are off by one.
var parserErrors = []string{
	"did not find expected key",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected <document start>",
}

// Parse validates a runbook read from name (used in messages only). It
// returns every problem at once as a *ValidationError, and no runbook then.
func Parse(name string, data []byte, reg *steps.Registry, opts ...Option) (rb *Runbook, err error) {
	if reg == nil {
		return nil, errors.New("parse runbook: no step registry")
	}
	defer func() {
		// yaml.v3 has panicked on some malformed input in the past: a bad
		// file must be an error, never a crash.
		if r := recover(); r != nil {
			rb, err = nil, &ValidationError{Issues: []Issue{{File: name, Msg: fmt.Sprintf("cannot read YAML: %v", r)}}}
		}
	}()
	is := &issues{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			is.add(1, "", "empty runbook")
		} else {
			is.syntax(err)
		}
		return nil, newValidationError(is.list)
	}
	if line, msg := checkAliases(&doc); msg != "" {
		is.add(line, "", "%s", msg)
		return nil, newValidationError(is.list)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		is.add(extra.Line, "", "one runbook per file: a second YAML document starts here")
	} else if !errors.Is(err, io.EOF) {
		is.syntax(err)
	}
	raw := is.decodeRaw(&doc)
	o := newOptions(opts)
	overlaid, used := o.overlay.apply(raw, reg, is)
	v := &validator{issues: is, reg: reg, raw: raw, policy: o.secrets}
	if raw != nil {
		v.validate()
	}
	o.overlay.attribute(is.list, overlaid)
	if verr := newValidationError(is.list); verr != nil {
		return nil, verr
	}
	rb = v.rb
	rb.src = raw
	if len(used) > 0 {
		rb.overlay, rb.overlaid = o.overlay, used
	}
	attachFactories(v, o)
	attachNotify(rb, o)
	rb.Hash = rb.PlanHash(nil)
	return rb, nil
}

func (is *issues) syntax(err error) {
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserErrors, m[2]) {
			// yaml.v3 numbers the lines of parser (not scanner) errors
			// from 0.
			line++
		}
		is.add(line, "", "YAML syntax: %s", m[2])
		return
	}
	is.add(0, "", "YAML syntax: %v", err)
}

// LoadDir loads every *.yaml and *.yml file of dir, keyed by runbook name.
// Two runbooks of the same name are an error. On error the map still holds
// the runbooks that loaded cleanly; callers that want all or nothing
// discard it.
func LoadDir(dir string, reg *steps.Registry, opts ...Option) (map[string]*Runbook, error) {
	if _, err := os.ReadDir(dir); err != nil {
		return nil, fmt.Errorf("load runbooks: %w", err)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("load runbooks from %s: %w", dir, err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	out := map[string]*Runbook{}
	var all []Issue
	var errs []error
	for _, f := range files {
		rb, err := Load(f, reg, opts...)
		var verr *ValidationError
		switch {
		case errors.As(err, &verr):
			all = append(all, verr.Issues...)
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		if prev, dup := out[rb.Name]; dup {
			all = append(all, Issue{File: f, Line: rb.src.Name.Line, Field: "name",
				Msg: fmt.Sprintf("runbook name %q is already used by %s", rb.Name, prev.Source)})
			continue
		}
		out[rb.Name] = rb
	}
	if verr := newValidationError(all); verr != nil {
		errs = append([]error{verr}, errs...)
	}
	return out, errors.Join(errs...)
}
