package kubernetes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/jsonpath"
)

// fieldCheck is a parsed FieldExpectation.
type fieldCheck struct {
	exp FieldExpectation
	jp  *jsonpath.JSONPath
}

func newFieldCheck(f FieldExpectation) (fieldCheck, error) {
	jp, err := parseFieldPath(f.Path)
	if err != nil {
		return fieldCheck{}, err
	}
	return fieldCheck{exp: f, jp: jp}, nil
}

// mustFieldCheck is newFieldCheck for a path known to parse.
func mustFieldCheck(f FieldExpectation) fieldCheck {
	fc, err := newFieldCheck(f)
	if err != nil {
		panic(err)
	}
	return fc
}

// check evaluates the expectation on u and says so in one line with the
// live value ("spec.replicas = 3, want 0"); values of Secrets are never
// shown (showValues false).
func (f fieldCheck) check(u *unstructured.Unstructured, showValues bool) (bool, string) {
	vals, err := f.values(u)
	if err != nil {
		return false, fmt.Sprintf("%s: %v", f.exp.Path, err)
	}
	live := "(absent)"
	if len(vals) > 0 {
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = short(v)
			if s, ok := v.(string); ok && len(s) <= 60 {
				parts[i] = s
			}
		}
		live = strings.Join(parts, ", ")
	}
	if !showValues && len(vals) > 0 {
		live = "(value not shown)"
	}
	ok, want := f.holds(vals)
	mark := "✓"
	if !ok {
		mark = "✗ want " + want
	}
	return ok, fmt.Sprintf("%s = %s %s", f.exp.Path, live, mark)
}

// values are the path's values in u (none when absent).
func (f fieldCheck) values(u *unstructured.Unstructured) ([]any, error) {
	results, err := f.jp.FindResults(u.Object)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, r := range results {
		for _, v := range r {
			if v.IsValid() && v.CanInterface() {
				out = append(out, v.Interface())
			}
		}
	}
	return out, nil
}

// holds says whether the values meet the expectation, and what it wants.
// A path that gives several values (a filter) holds when each does.
func (f fieldCheck) holds(vals []any) (bool, string) {
	e := f.exp
	switch {
	case e.Exists != nil:
		if *e.Exists {
			return len(vals) > 0, "present"
		}
		return len(vals) == 0, "absent"
	case e.AtLeast != nil:
		want := "≥ " + strconv.FormatFloat(*e.AtLeast, 'f', -1, 64)
		if len(vals) == 0 {
			return false, want
		}
		for _, v := range vals {
			n, ok := number(v)
			if !ok || n < *e.AtLeast {
				return false, want
			}
		}
		return true, want
	case e.In != nil:
		var opts []string
		for _, w := range e.In {
			opts = append(opts, short(w))
		}
		want := "one of " + strings.Join(opts, ", ")
		if len(vals) == 0 {
			return false, want
		}
		for _, v := range vals {
			match := false
			for _, w := range e.In {
				if same(v, w) {
					match = true
				}
			}
			if !match {
				return false, want
			}
		}
		return true, want
	}
	want := short(e.Equals)
	if len(vals) == 0 {
		return false, want
	}
	for _, v := range vals {
		if !same(v, e.Equals) {
			return false, want
		}
	}
	return true, want
}

// same compares a live value with an expected one: numbers as numbers,
// scalars by their text, anything else by its JSON.
func same(live, want any) bool {
	if a, ok := number(live); ok {
		if b, ok := number(want); ok {
			return a == b
		}
	}
	switch live.(type) {
	case string, bool:
		return fmt.Sprint(live) == fmt.Sprint(want)
	}
	a, err1 := json.Marshal(live)
	b, err2 := json.Marshal(want)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// number reads a number: a JSON number, or a quantity string ("10Gi",
// "500m") by its value.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	case string:
		if q, err := apiresource.ParseQuantity(n); err == nil {
			return q.AsApproximateFloat64(), true
		}
	}
	return 0, false
}
