package runbook

import (
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// This file checks a step's `with` block against its kind's config struct:
// unknown fields (recursively), templates in non-string fields, type errors
// and the config's own CheckAndSetDefaults, each at the line of the
// offending value.

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkWith decodes the with node into a fresh config of the kind and
// fills and checks it (CheckAndSetDefaults), reporting every problem under path (…with). It returns the
// decoded config (templates unexpanded), or nil when it has problems.
func (is *issues) checkWith(kind steps.Kind, with *yaml.Node, withLine int, path string) steps.Config {
	return is.checkConfig(kind.NewConfig(), with, withLine, path)
}

// checkConfig decodes node into cfg strictly and fills and checks it, as
// checkWith does (also for the notifiers of the notify section).
func (is *issues) checkConfig(cfg steps.Config, with *yaml.Node, withLine int, path string) steps.Config {
	lines := map[int][]placed{}
	node := with
	if node == nil {
		node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: withLine}
	}
	before := len(is.list)
	is.checkFields(node, reflect.TypeOf(cfg), path, "", lines, 0)
	if len(is.list) > before {
		// Still report the config's own checks on the fields that are
		// fine (Node.Decode ignores unknown keys), so that one pass shows
		// every error. A value that does not decode was reported already.
		if err := node.Decode(cfg); err == nil {
			if err := cfg.CheckAndSetDefaults(); err != nil {
				is.configErrors(err, node, withLine, path)
			}
		}
		return nil
	}
	if err := node.Decode(cfg); err != nil {
		is.decodeErrors(err, withLine, path, lines)
		return nil
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		is.configErrors(err, node, withLine, path)
		return nil
	}
	return cfg
}

// field is one YAML field of a config struct: its type and the unit of
// its value, from the field's `unit` tag ("seconds", "bytes", or
// "duration" for a duration string), for type errors.
type field struct {
	typ  reflect.Type
	unit string
}

// yamlFields maps the YAML names of a struct's fields to their types, the
// way yaml.v3 does (tag name, else the lower-cased field name; inline
// structs flattened). inlineMap reports a ",inline" map that takes any key.
func yamlFields(t reflect.Type) (fields map[string]field, inlineMap reflect.Type) {
	fields = map[string]field{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue // yaml.v3 also inlines unexported embedded structs
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				sub, m := yamlFields(ft)
				for k, v := range sub {
					fields[k] = v
				}
				if m != nil {
					inlineMap = m
				}
			case reflect.Map:
				inlineMap = ft.Elem()
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = field{typ: f.Type, unit: f.Tag.Get("unit")}
	}
	return fields, inlineMap
}

// checkFields walks node against type t (of the given unit); lines
// records the path of every scalar by line, to place yaml.v3's errors.
func (is *issues) checkFields(n *yaml.Node, t reflect.Type, path, unit string, lines map[int][]placed, depth int) {
	n = deref(n)
	if n == nil || depth > 32 {
		return
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return
		}
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	if n.Kind == yaml.ScalarNode {
		lines[n.Line] = append(lines[n.Line], placed{path: path, value: n.Value})
		switch {
		case n.ShortTag() == "!!str" && steps.IsTemplate(n.Value) && t.Kind() != reflect.String && t.Kind() != reflect.Interface:
			is.add(n.Line, path, "templates are only allowed in string fields (this one is %s)", t.Kind())
		case isInt(t) && n.ShortTag() == "!!float", n.Decode(reflect.New(t).Interface()) != nil:
			// yaml.v3 decides what fits (3 in a string field does, "30s"
			// in a number field does not; 2.5 in an int field it would
			// truncate, so that is refused first); the message is ours.
			is.add(n.Line, path, "must be %s, got %s", expected(t, unit), describe(n))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			is.add(n.Line, path, "must be %s, got %s", expected(t, unit), describe(n))
			return
		}
		fields, inline := yamlFields(t)
		known := make([]string, 0, len(fields))
		for k := range fields {
			known = append(known, k)
		}
		slices.Sort(known)
		is.mapping(n, path, nil, func(key string, k, v *yaml.Node) {
			f, ok := fields[key]
			if !ok && inline != nil {
				f, ok = field{typ: inline}, true
			}
			if !ok {
				is.add(k.Line, join(path, key), "unknown field %q%s", key, knownList(key, known))
				return
			}
			is.checkFields(v, f.typ, join(path, key), f.unit, lines, depth+1)
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			is.add(n.Line, path, "must be %s, got %s", expected(t, unit), describe(n))
			return
		}
		for _, p := range pairs(n, 0) {
			is.checkFields(p.val, t.Elem(), join(path, p.key.Value), unit, lines, depth+1)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			is.add(n.Line, path, "must be %s, got %s", expected(t, unit), describe(n))
			return
		}
		for i, el := range n.Content {
			is.checkFields(el, t.Elem(), index(path, i), unit, lines, depth+1)
		}
	case reflect.Interface:
	default:
		is.add(n.Line, path, "must be %s, got %s", expected(t, unit), describe(n))
	}
}

func isInt(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// expected says what a value of type t (of the given unit) is written as:
// "a number (seconds)", "a list of strings", "a duration such as 30s".
func expected(t reflect.Type, unit string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case unit == "duration" && t.Kind() == reflect.String:
		return "a duration such as 30s or 5m"
	case unit == "duration":
		return typeDesc(t) + " (of durations such as 30s)"
	case unit != "":
		return typeDesc(t) + " (" + unit + ")"
	}
	return typeDesc(t)
}

// typeDesc names a Go type the way a runbook writes its values.
func typeDesc(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number ≥ 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list of " + plural(t.Elem())
	case reflect.Map:
		return "a mapping of " + plural(t.Elem()) + " (key: value)"
	case reflect.Struct:
		fields, _ := yamlFields(t)
		names := make([]string, 0, len(fields))
		for k := range fields {
			names = append(names, k)
		}
		slices.Sort(names)
		if len(names) == 0 || len(names) > 8 {
			return "a mapping (key: value)"
		}
		return "a mapping (fields: " + strings.Join(names, ", ") + ")"
	}
	return "a value"
}

// plural names the values of a list or mapping of type t.
func plural(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true/false values"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole numbers"
	case reflect.Float32, reflect.Float64:
		return "numbers"
	case reflect.String:
		return "strings"
	case reflect.Slice, reflect.Array:
		return "lists"
	case reflect.Map, reflect.Struct:
		return "mappings"
	}
	return "values"
}

// knownList suggests close names, else lists the known ones when few.
func knownList(key string, known []string) string {
	if s := suggest(key, known); s != "" {
		return s
	}
	if len(known) == 0 {
		return " (this kind takes no fields)"
	}
	if len(known) <= 12 {
		return " (known fields: " + strings.Join(known, ", ") + ")"
	}
	return ""
}

var (
	typeErrLine  = regexp.MustCompile(`^line (\d+): (.*)$`)
	typeErrValue = regexp.MustCompile("`([^`]*)`")
)

// placed is a scalar of a with block: its field path and value.
type placed struct {
	path, value string
}

// pick finds which scalar of a line a type error is about: the one whose
// value the message quotes (a flow mapping has several on one line).
func pick(cands []placed, msg, fallback string) string {
	if len(cands) == 0 {
		return fallback
	}
	if m := typeErrValue.FindStringSubmatch(msg); m != nil {
		for _, c := range cands {
			if c.value == m[1] {
				return c.path
			}
		}
	}
	return cands[0].path
}

// decodeErrors places yaml.v3 type errors ("line 7: cannot unmarshal …").
func (is *issues) decodeErrors(err error, withLine int, path string, lines map[int][]placed) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		is.add(withLine, path, "%v", err)
		return
	}
	for _, msg := range te.Errors {
		line, field := withLine, path
		if m := typeErrLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
			field = pick(lines[line], msg, path)
		}
		is.add(line, field, "%s", msg)
	}
}

// configErrors reports a config's CheckAndSetDefaults errors: each *steps.FieldError
// at the line of the field it names when the node is found, else at the
// `with` line.
func (is *issues) configErrors(err error, with *yaml.Node, withLine int, path string) {
	for _, e := range flatten(err) {
		var fe *steps.FieldError
		if errors.As(e, &fe) {
			line := withLine
			if n := lookup(with, fe.Field); n != nil {
				line = n.Line
			}
			is.add(line, join(path, fe.Field), "%s", fe.Msg)
			continue
		}
		is.add(withLine, path, "%v", e)
	}
}

// flatten unpacks errors.Join trees into their leaves.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

var pathPart = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// lookup finds the node a field path ("sentinels[1]", "a.b[2].c") names
// under n, or nil.
func lookup(n *yaml.Node, field string) *yaml.Node {
	cur := deref(n)
	for _, m := range pathPart.FindAllStringSubmatch(field, -1) {
		if cur == nil {
			return nil
		}
		if m[2] != "" {
			i, _ := strconv.Atoi(m[2])
			if cur.Kind != yaml.SequenceNode || i >= len(cur.Content) {
				return nil
			}
			cur = deref(cur.Content[i])
			continue
		}
		var next *yaml.Node
		for _, p := range pairs(cur, 0) {
			if p.key.Value == m[1] {
				next = deref(p.val)
				break
			}
		}
		cur = next
	}
	return cur
}
