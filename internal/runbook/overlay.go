package runbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Overlay points a runbook's connections at another environment — the
// lab's clusters and endpoints for a drill, a staging account — without
// editing the runbook. It is a YAML file:
//
//	name: lab                     # optional: how plans name it (default: the file's name)
//	connections:
//	  dr_cluster: {context: lab-dr}
//	  primary_cluster: {context: lab-primary, kubeconfig: "${env:KUBECONFIG}"}
//	  dr_pg: {type: postgres, dsn: "${secret:LAB_PG_DR_DSN}"}
//
// Each entry sets fields of the runbook connection of that name (any
// field its type takes; values may hold templates and ${…} references,
// as in a runbook) and applies to every runbook that has such a
// connection; `type`, if given, must be that connection's type. A
// connection keeps its type and region. The file is decoded strictly:
// unknown keys, a field no type takes, or a field the connection's type
// does not take are errors at their file:line, and Check reports an entry
// that no runbook has. Load and Parse apply it given WithOverlay; the plan
// shows it (Runbook.OverlayDescription) and the plan hash covers it, so an
// approval of a drill never counts for production.
type Overlay struct {
	// Source is the file it was read from.
	Source string
	// Name is how plans name it.
	Name string
	// Connections are the entries by connection name.
	Connections map[string]OverlayConnection
}

// OverlayConnection is one entry of an overlay.
type OverlayConnection struct {
	Name string
	Line int
	// Type, if set, is the type the runbook's connection must have.
	Type     string
	TypeLine int
	// Fields are the values to set, by field name.
	Fields map[string]OverlayField
}

// OverlayField is one value of an overlay entry, with its line.
type OverlayField struct {
	Value string
	Line  int
}

// WithOverlay applies o to the runbooks loaded (nil: none).
func WithOverlay(o *Overlay) Option {
	return func(opts *options) { opts.overlay = o }
}

// LoadOverlay reads and checks an overlay file (at most MaxFileSize).
func LoadOverlay(path string, reg *steps.Registry) (*Overlay, error) {
	data, err := readFile(path, "load connections overlay", "a connections overlay")
	if err != nil {
		return nil, err
	}
	return ParseOverlay(path, data, reg)
}

// ParseOverlay checks an overlay read from name (used in messages); every
// problem is reported at once as a *ValidationError.
func ParseOverlay(name string, data []byte, reg *steps.Registry) (*Overlay, error) {
	is := &issues{file: name}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			is.add(1, "", "empty connections overlay (want connections: {name: {field: value}})")
		} else {
			is.syntax(err)
		}
		return nil, newValidationError(is.list)
	}
	if line, msg := checkAliases(&doc); msg != "" {
		is.add(line, "", "%s", msg)
		return nil, newValidationError(is.list)
	}
	o := &Overlay{Source: name, Name: strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)), Connections: map[string]OverlayConnection{}}
	sawConns := false
	is.mapping(&doc, "", []string{"name", "connections"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			if s := is.str(v, key); s.Value != "" {
				o.Name = s.Value
			}
		case "connections":
			sawConns = true
			is.mapping(v, key, nil, func(conn string, k, v *yaml.Node) {
				o.Connections[conn] = is.overlayConnection(conn, k, v, reg)
			})
		}
	})
	if !sawConns && len(is.list) == 0 {
		is.add(1, "connections", "missing: the overlay sets no connection (want connections: {name: {field: value}})")
	}
	if verr := newValidationError(is.list); verr != nil {
		return nil, verr
	}
	return o, nil
}

func (is *issues) overlayConnection(name string, k, v *yaml.Node, reg *steps.Registry) OverlayConnection {
	path := join("connections", name)
	c := OverlayConnection{Name: name, Line: k.Line, Fields: map[string]OverlayField{}}
	if !idRe.MatchString(name) && !nameRe.MatchString(name) {
		is.add(k.Line, path, "bad connection name %q: use lower-case letters, digits, _ and -", name)
	}
	is.mapping(v, path, nil, func(key string, k, v *yaml.Node) {
		s := is.str(v, join(path, key))
		switch key {
		case "type":
			c.Type, c.TypeLine = s.Value, s.Line
		case "region":
			is.add(k.Line, join(path, key), "an overlay cannot move a connection to another region; set the fields that reach the other environment")
		default:
			c.Fields[key] = OverlayField{Value: s.Value, Line: k.Line}
		}
	})
	if len(c.Fields) == 0 {
		is.add(k.Line, path, "sets no field")
	}
	if c.Type != "" {
		t, ok := reg.ConnectionType(c.Type)
		if !ok {
			is.add(c.TypeLine, join(path, "type"), "unknown connection type %q (known: %s)", c.Type, strings.Join(reg.ConnectionTypes(), ", "))
			return c
		}
		for _, f := range sortedFields(c.Fields) {
			if !typeHasField(t, f) {
				allowed := append(slices.Clone(t.Required), t.Optional...)
				is.add(c.Fields[f].Line, join(path, f), "unknown field %q for connection type %s%s", f, t.Name, declaredFields(f, allowed))
			}
		}
		return c
	}
	// Without a type, a field no type takes is a typo found now.
	var all []string
	for _, tn := range reg.ConnectionTypes() {
		t, _ := reg.ConnectionType(tn)
		all = append(all, t.Required...)
		all = append(all, t.Optional...)
	}
	for _, f := range sortedFields(c.Fields) {
		if !slices.Contains(all, f) {
			is.add(c.Fields[f].Line, join(path, f), "unknown field %q: no connection type takes it%s", f, suggest(f, all))
		}
	}
	return c
}

func sortedFields(m map[string]OverlayField) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// canonical is the overlay's content for hashing and display, limited to
// the connections in only (all when nil).
func (o *Overlay) canonical(only map[string]bool) map[string]any {
	conns := map[string]map[string]string{}
	for n, c := range o.Connections {
		if only != nil && !only[n] {
			continue
		}
		fields := map[string]string{}
		for f, v := range c.Fields {
			fields[f] = v.Value
		}
		conns[n] = fields
	}
	return map[string]any{"name": o.Name, "connections": conns}
}

// Check reports the entries that none of the runbooks has a connection
// of that name: a typo there would leave the runbook on its own
// connection (production) during a drill.
func (o *Overlay) Check(runbooks []*Runbook) error {
	if o == nil {
		return nil
	}
	have := map[string]bool{}
	var names []string
	for _, rb := range runbooks {
		for n := range rb.Connections {
			if !have[n] {
				names = append(names, n)
			}
			have[n] = true
		}
	}
	sort.Strings(names)
	is := &issues{file: o.Source}
	for _, n := range sortedConns(o.Connections) {
		if !have[n] {
			hint := suggest(n, names)
			if hint == "" {
				hint = " (the runbooks' connections: " + strings.Join(names, ", ") + ")"
			}
			is.add(o.Connections[n].Line, join("connections", n), "unknown connection %q: no runbook has it%s", n, hint)
		}
	}
	if verr := newValidationError(is.list); verr != nil {
		return verr
	}
	return nil
}

func sortedConns(m map[string]OverlayConnection) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply sets the overlay's fields on the raw connections of a runbook
// before it is validated, checking them against each connection's type
// (issues at the overlay's file:line). It returns the field paths it
// set, whose later issues (a template, a reference) are the overlay's.
func (o *Overlay) apply(raw *rawRunbook, reg *steps.Registry, is *issues) (set map[string]bool, used map[string]bool) {
	set, used = map[string]bool{}, map[string]bool{}
	if o == nil || raw == nil {
		return set, used
	}
	ois := &issues{file: o.Source}
	for i := range raw.Connections {
		c := &raw.Connections[i]
		oc, ok := o.Connections[c.Name]
		if !ok {
			continue
		}
		used[c.Name] = true
		path := join("connections", c.Name)
		if oc.Type != "" && oc.Type != c.Type.Value {
			ois.add(oc.TypeLine, join(path, "type"), "the overlay is for a connection of type %s, and %s's %s is of type %s", oc.Type, raw.Name.Value, c.Name, c.Type.Value)
			continue
		}
		t, known := reg.ConnectionType(c.Type.Value)
		for _, f := range sortedFields(oc.Fields) {
			v := oc.Fields[f]
			if known && !typeHasField(t, f) {
				allowed := append(slices.Clone(t.Required), t.Optional...)
				ois.add(v.Line, join(path, f), "unknown field %q for connection type %s (of %s in %s)%s", f, t.Name, c.Name, raw.Name.Value, declaredFields(f, allowed))
				continue
			}
			set[join(path, f)] = true
			replaced := false
			for j := range c.Fields {
				if c.Fields[j].Name == f {
					c.Fields[j].scalar = scalar{Value: v.Value, Line: v.Line, Set: true}
					replaced = true
				}
			}
			if !replaced {
				c.Fields = append(c.Fields, rawField{Name: f, scalar: scalar{Value: v.Value, Line: v.Line, Set: true}})
			}
		}
	}
	is.list = append(is.list, ois.list...)
	return set, used
}

// attribute moves the issues about fields the overlay set to its file.
func (o *Overlay) attribute(list []Issue, set map[string]bool) {
	if o == nil {
		return
	}
	for i := range list {
		if set[list[i].Field] {
			list[i].File = o.Source
		}
	}
}

// OverlayDescription says which overlay the runbook was loaded with and
// what it set ("lab (runbooks/overlays/lab.yaml): dr_cluster.context=lab-dr, …"),
// "" for none: plans show it.
func (rb *Runbook) OverlayDescription() string {
	if rb.overlay == nil {
		return ""
	}
	var parts []string
	for _, n := range sortedConns(rb.overlay.Connections) {
		if !rb.overlaid[n] {
			continue
		}
		oc := rb.overlay.Connections[n]
		for _, f := range sortedFields(oc.Fields) {
			parts = append(parts, fmt.Sprintf("%s.%s=%s", n, f, oc.Fields[f].Value))
		}
	}
	return fmt.Sprintf("%s (%s): %s", rb.overlay.Name, rb.overlay.Source, strings.Join(parts, ", "))
}

// overlayHash is what the plan hash covers of the overlay: its name and
// the entries applied to this runbook ("" for none).
func (rb *Runbook) overlayHash() string {
	if rb.overlay == nil {
		return ""
	}
	b, _ := json.Marshal(rb.overlay.canonical(rb.overlaid))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
