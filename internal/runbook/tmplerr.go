package runbook

import (
	"fmt"
	"regexp"
	"strings"
)

// text/template words its errors for Go programmers ("template: value:1:16:
// executing "value" at <.steps.lb.outputs.hostname>: map has no entry for
// key "lb""). This file rewords them for the runbook's author: the template
// name and columns go, the expression stays, and the usual causes (an
// unknown function, a step without outputs, a value of the run in a dry
// run) are said in the runbook's terms.

var (
	// parseErr is a parse error: "template: value:3: unclosed action".
	parseErr = regexp.MustCompile(`(?s)^template: value:(\d+): (.*)$`)
	// execErr is an execution error at a node of the template.
	execErr = regexp.MustCompile(`(?s)^template: value:(\d+):\d+: executing "value" at <(.*?)>: (.*)$`)
	// execErrNoNode is an execution error with no node to name.
	execErrNoNode = regexp.MustCompile(`(?s)^template: value: (.*)$`)
	unknownFunc   = regexp.MustCompile(`^function "(.*)" not defined$`)
	missingKey    = regexp.MustCompile(`^map has no entry for key "(.*)"$`)
	fieldChain    = regexp.MustCompile(`^(\.[A-Za-z_][A-Za-z0-9_]*)+$`)
)

// onLine prefixes msg with the line of a template of several lines.
func onLine(text, line, msg string) string {
	if strings.Contains(strings.TrimRight(text, "\n"), "\n") {
		return "line " + line + " of the template: " + msg
	}
	return msg
}

// parseProblem words a template's parse error.
func parseProblem(err error, text string) string {
	m := parseErr.FindStringSubmatch(err.Error())
	if m == nil {
		return "template does not parse: " + strings.TrimPrefix(err.Error(), "template: ")
	}
	line, msg := m[1], m[2]
	if f := unknownFunc.FindStringSubmatch(msg); f != nil {
		hint := suggest(f[1], funcNames)
		if hint != "" {
			hint = strings.TrimSuffix(hint, ")") + "; functions: "
		} else {
			hint = " (functions: "
		}
		return onLine(text, line, fmt.Sprintf("unknown function %q%s%s)", f[1], hint, strings.Join(funcNames, ", ")))
	}
	return onLine(text, line, "template does not parse: "+msg)
}

// templateError is a reworded execution error; it unwraps to its cause
// (the error of a function, or ErrRunNotStarted).
type templateError struct {
	msg   string
	cause error
}

func (e *templateError) Error() string { return e.msg }
func (e *templateError) Unwrap() error { return e.cause }

// execProblem words a template's execution error as "<expression>: what
// is wrong".
func execProblem(err error, text string) error {
	msg := err.Error()
	if m := execErr.FindStringSubmatch(msg); m != nil {
		expr, what, cause := m[2], m[3], err
		if k := missingKey.FindStringSubmatch(what); k != nil {
			var notStarted bool
			what, notStarted = missing(expr, k[1])
			if notStarted {
				cause = ErrRunNotStarted
			}
		}
		return &templateError{msg: onLine(text, m[1], expr+": "+what), cause: cause}
	}
	if m := execErrNoNode.FindStringSubmatch(msg); m != nil {
		return &templateError{msg: m[1], cause: err}
	}
	return err
}

// missing words a missing map key met while evaluating expr; notStarted
// reports a value of the run asked for where there is no run.
func missing(expr, key string) (what string, notStarted bool) {
	var parts []string
	if e := strings.TrimPrefix(expr, "$"); fieldChain.MatchString(e) {
		parts = strings.Split(e[1:], ".")
	}
	switch {
	case len(parts) >= 1 && parts[0] == "run" && key == "run":
		return ErrRunNotStarted.Error(), true
	case len(parts) >= 2 && parts[0] == "steps" && key == parts[1]:
		return fmt.Sprintf("step %s has no outputs: it has not finished, or it was skipped", key), false
	case len(parts) == 4 && parts[0] == "steps" && key == parts[3]:
		return fmt.Sprintf("step %s gave no output %q", parts[1], key), false
	case len(parts) >= 2 && parts[0] == "params" && key == parts[1]:
		return fmt.Sprintf("no parameter %q", key), false
	}
	return fmt.Sprintf("no value for %q", key), false
}
