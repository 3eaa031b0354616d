package runbook

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// This file holds the small strict readers of YAML nodes the raw form is
// decoded with: each reports its problems with the node's line and the
// field's path, and goes on so that every error is reported at once.

// pair is one key/value of a mapping.
type pair struct {
	key, val *yaml.Node
}

// deref follows aliases and document nodes.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// isNull reports whether n is absent or an explicit null.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// pairs returns the pairs of a mapping with merge keys (<<) flattened:
// explicit keys win over merged ones. depth guards against alias loops.
func pairs(n *yaml.Node, depth int) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || depth > 16 {
		return nil
	}
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			v = deref(v)
			if v == nil {
				continue
			}
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					merged = append(merged, pairs(m, depth+1)...)
				}
			} else {
				merged = append(merged, pairs(v, depth+1)...)
			}
			continue
		}
		explicit = append(explicit, pair{k, v})
	}
	out := explicit
	for _, m := range merged {
		if !slices.ContainsFunc(out, func(p pair) bool { return p.key.Value == m.key.Value }) {
			out = append(out, m)
		}
	}
	return out
}

// mapping checks that n is a mapping whose keys are all in known, reports
// unknown and duplicate keys, and calls fn for each known key.
func (is *issues) mapping(n *yaml.Node, path string, known []string, fn func(key string, k, v *yaml.Node)) bool {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		line, got := 0, ""
		if n != nil {
			line, got = n.Line, ", got "+describe(n)
		}
		is.add(line, path, "must be a mapping (key: value)%s", got)
		return false
	}
	seen := map[string]int{}
	for _, p := range pairs(n, 0) {
		key := p.key.Value
		field := join(path, key)
		if first, dup := seen[key]; dup {
			is.add(p.key.Line, field, "duplicate key (first at line %d)", first)
			continue
		}
		seen[key] = p.key.Line
		if known != nil && !slices.Contains(known, key) {
			is.add(p.key.Line, field, "unknown field %q%s", key, knownList(key, known))
			continue
		}
		fn(key, p.key, p.val)
	}
	return true
}

// scalar is a string value with its line.
type scalar struct {
	Value string
	Line  int
	// Set reports whether the field was present.
	Set bool
}

// str reads a scalar as a string (null is "").
func (is *issues) str(n *yaml.Node, path string) scalar {
	n = deref(n)
	if n == nil {
		return scalar{}
	}
	if n.Kind != yaml.ScalarNode {
		is.add(n.Line, path, "must be a string, got %s", describe(n))
		return scalar{Line: n.Line}
	}
	if n.ShortTag() == "!!null" {
		return scalar{Line: n.Line, Set: true}
	}
	return scalar{Value: n.Value, Line: n.Line, Set: true}
}

// integer reads an integer scalar.
func (is *issues) integer(n *yaml.Node, path string) (int, int, bool) {
	n = deref(n)
	if n == nil {
		return 0, 0, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int
		if err := n.Decode(&v); err == nil {
			return v, n.Line, true
		}
	}
	is.add(n.Line, path, "must be a whole number, got %s", describe(n))
	return 0, n.Line, false
}

// boolean reads a true/false scalar.
func (is *issues) boolean(n *yaml.Node, path string) (bool, bool) {
	n = deref(n)
	if n == nil {
		return false, false
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		v, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return v, true
		}
	}
	is.add(n.Line, path, "must be true or false, got %s", describe(n))
	return false, false
}

// strList reads a sequence of strings; a single string is not accepted, so
// that `needs: a, b` is not silently one odd name.
func (is *issues) strList(n *yaml.Node, path string) []scalar {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		is.add(n.Line, path, "must be a list of strings, e.g. [a, b], got %s", describe(n))
		return nil
	}
	out := make([]scalar, 0, len(n.Content))
	for i, c := range n.Content {
		s := is.str(c, index(path, i))
		if s.Set {
			out = append(out, s)
		}
	}
	return out
}

// duration parses a Go duration that must not be negative.
func (is *issues) duration(s scalar, path string) time.Duration {
	if !s.Set || s.Value == "" {
		return 0
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		is.add(s.Line, path, "invalid duration %q (use Go durations such as 30s, 5m, 1h30m)", s.Value)
		return 0
	}
	if d < 0 {
		is.add(s.Line, path, "must be ≥ 0")
		return 0
	}
	return d
}

// sequence calls fn for each element of a list.
func (is *issues) sequence(n *yaml.Node, path string, fn func(i int, el *yaml.Node)) {
	n = deref(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		is.add(n.Line, path, "must be a list, got %s", describe(n))
		return
	}
	for i, el := range n.Content {
		fn(i, el)
	}
}

// describe names a node's type for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// suggest returns " (did you mean x?)" for close names, or "" when none is.
func suggest(name string, known []string) string {
	close := closeNames(name, known, 3)
	if len(close) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(close, ", ") + "?)"
}

// closeNames returns up to max names of known within a small edit distance
// of name (or containing it), closest first.
func closeNames(name string, known []string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	lname := strings.ToLower(name)
	for _, k := range known {
		d := levenshtein(lname, strings.ToLower(k))
		limit := max(1, len(name)/3)
		lk := strings.ToLower(k)
		if (d <= limit && d < len(name)) || (len(lname) >= 4 && strings.Contains(lk, lname)) || (len(lk) >= 4 && strings.Contains(lname, lk)) {
			cs = append(cs, cand{k, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return a.d - b.d })
	var out []string
	for _, c := range cs {
		if len(out) == n {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// levenshtein is the edit distance of a and b, a swap of two neighbours
// counting as one edit (jion → join), as typos go.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance of ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// maxExpandedNodes bounds the size of a document with its aliases
// expanded: the walkers of this package follow aliases, and a "billion
// laughs" document must be refused, not walked.
const maxExpandedNodes = 100_000

// checkAliases reports a recursive alias or a document too large once its
// aliases are expanded ("" when fine). It runs in time linear in the
// document's nodes.
func checkAliases(root *yaml.Node) (line int, msg string) {
	const inProgress = -1
	size := map[*yaml.Node]int{}
	var visit func(n *yaml.Node) int
	visit = func(n *yaml.Node) int {
		if n == nil || msg != "" {
			return 0
		}
		if s, ok := size[n]; ok {
			if s == inProgress {
				line, msg = n.Line, "recursive alias: an anchor cannot contain an alias of itself"
				return 0
			}
			return s
		}
		size[n] = inProgress
		total := 1
		if n.Kind == yaml.AliasNode {
			if size[n.Alias] == inProgress && n.Alias != nil {
				line, msg = n.Line, "recursive alias: an anchor cannot contain an alias of itself"
				return 0
			}
			total += visit(n.Alias)
		}
		for _, c := range n.Content {
			total += visit(c)
			if total > maxExpandedNodes {
				total = maxExpandedNodes + 1
			}
		}
		size[n] = total
		return total
	}
	if visit(root) > maxExpandedNodes && msg == "" {
		return 1, fmt.Sprintf("document too large once its aliases are expanded (over %d nodes)", maxExpandedNodes)
	}
	return line, msg
}
