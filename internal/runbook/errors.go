package runbook

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Issue is one problem found in a runbook: where it is and what is wrong.
type Issue struct {
	// File is the runbook's file name as given to Load or Parse.
	File string
	// Line is the 1-based line in File (0 when unknown).
	Line int
	// Field is the path of the field, e.g. phases[1].steps[0].with.replicas
	// ("" for the whole file).
	Field string
	Msg   string
}

// String formats the issue as file:line: field: message.
func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.File)
	if i.Line > 0 {
		fmt.Fprintf(&b, ":%d", i.Line)
	}
	b.WriteString(": ")
	if i.Field != "" {
		b.WriteString(i.Field)
		b.WriteString(": ")
	}
	b.WriteString(i.Msg)
	return b.String()
}

// ValidationError holds every problem found in one or more runbooks,
// sorted by file, line and field. A runbook with issues yields no *Runbook.
type ValidationError struct {
	Issues []Issue
}

// Error prints one issue per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		lines[i] = is.String()
	}
	return strings.Join(lines, "\n")
}

// newValidationError sorts and de-duplicates issues; nil when there are none.
func newValidationError(issues []Issue) *ValidationError {
	if len(issues) == 0 {
		return nil
	}
	issues = slices.Clone(issues)
	slices.SortStableFunc(issues, func(a, b Issue) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Field, b.Field), cmp.Compare(a.Msg, b.Msg))
	})
	issues = slices.Compact(issues)
	return &ValidationError{Issues: issues}
}

// issues collects problems for one file.
type issues struct {
	file string
	list []Issue
}

func (is *issues) add(line int, field, format string, args ...any) {
	is.list = append(is.list, Issue{File: is.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// join builds field paths: join("a", "b") = "a.b".
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index builds field paths: index("steps", 2) = "steps[2]".
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
