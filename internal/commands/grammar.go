package commands

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Verb is a `/failover` sub-command.
type Verb string

// The verbs of the grammar, the same for every transport.
const (
	VerbHelp    Verb = "help"
	VerbList    Verb = "list"
	VerbAssess  Verb = "assess"
	VerbPlan    Verb = "plan"
	VerbStart   Verb = "start"
	VerbStatus  Verb = "status"
	VerbPause   Verb = "pause"
	VerbResume  Verb = "resume"
	VerbAbort   Verb = "abort"
	VerbRetry   Verb = "retry"
	VerbSkip    Verb = "skip"
	VerbHistory Verb = "history"
	VerbReport  Verb = "report"
)

// verbSpec is one line of the grammar.
type verbSpec struct {
	verb Verb
	// usage is the argument synopsis after the verb.
	usage string
	doc   string
	// min and max bound the positional arguments (max -1: any number).
	min, max int
	// responder: only responders may use the verb.
	responder bool
}

// grammar lists the verbs in the order `help` shows them.
var grammar = []verbSpec{
	{VerbHelp, "", "show this help", 0, 0, false},
	{VerbList, "", "list the runbooks", 0, 0, false},
	{VerbAssess, "[runbook]", "run the runbook's read-only checks: go / no-go", 0, 1, false},
	{VerbPlan, "<runbook> [param=value…]", "dry run: what each step would change", 1, -1, false},
	{VerbStart, "<runbook> [param=value…] [reason…]", "post the plan and ask for approval", 1, -1, true},
	{VerbStatus, "[run]", "a run's progress, or the active runs", 0, 1, false},
	{VerbPause, "<run>", "pause a run after its current step", 1, 1, true},
	{VerbResume, "<run>", "resume a paused run", 1, 1, true},
	{VerbAbort, "<run>", "abort a run (or cancel its approval request)", 1, 1, true},
	{VerbRetry, "<run> <step>", "retry a failed step", 2, 2, true},
	{VerbSkip, "<run> <step>", "skip a failed step and go on", 2, 2, true},
	{VerbHistory, "", "the latest runs", 0, 0, false},
	{VerbReport, "<run>", "a run's timeline with the measured RTO and RPO", 1, 1, false},
}

func specOf(v Verb) (verbSpec, bool) {
	for _, s := range grammar {
		if s.verb == v {
			return s, true
		}
	}
	return verbSpec{}, false
}

// Usage returns the one-line usage of a verb ("start <runbook> …").
func Usage(v Verb) string {
	s, ok := specOf(v)
	if !ok {
		return ""
	}
	if s.usage == "" {
		return "/failover " + string(s.verb)
	}
	return "/failover " + string(s.verb) + " " + s.usage
}

// HelpText is the full help: every verb with its usage.
func HelpText() string {
	var b strings.Builder
	b.WriteString("Usage: /failover <verb> [arguments]\n")
	for _, s := range grammar {
		u := Usage(s.verb)
		fmt.Fprintf(&b, "  %-52s %s", u, s.doc)
		if s.responder {
			b.WriteString(" (responders)")
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// Command is a parsed `/failover` command.
type Command struct {
	Verb Verb
	// Args are the positional arguments (runbook, run, step).
	Args []string
	// Params are the name=value arguments of plan and start, in order.
	Params map[string]string
	// Reason is the free text after the parameters of start.
	Reason string
}

// UsageError is a parse error: the reply shows Msg and the usage.
type UsageError struct {
	Verb Verb // "" when the verb itself is unknown
	Msg  string
}

func (e *UsageError) Error() string {
	if e.Verb == "" {
		return e.Msg + "\n" + HelpText()
	}
	return e.Msg + "\nUsage: " + Usage(e.Verb)
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	runRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	stepRE  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// Parse parses the text after the command name ("start lab ticket=1 db down").
func Parse(text string) (*Command, error) {
	words, err := splitWords(text)
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	if len(words) == 0 {
		return &Command{Verb: VerbHelp}, nil
	}
	v := Verb(strings.ToLower(words[0]))
	spec, ok := specOf(v)
	if !ok {
		return nil, &UsageError{Msg: fmt.Sprintf("unknown command %q.", words[0])}
	}
	c := &Command{Verb: v}
	rest := words[1:]
	switch v {
	case VerbPlan, VerbStart:
		if len(rest) == 0 {
			return nil, &UsageError{Verb: v, Msg: fmt.Sprintf("%s needs a runbook name.", v)}
		}
		c.Args = []string{rest[0]}
		c.Params = map[string]string{}
		i := 1
		for ; i < len(rest) && paramRE.MatchString(rest[i]); i++ {
			k, val, _ := strings.Cut(rest[i], "=")
			if _, dup := c.Params[k]; dup {
				return nil, &UsageError{Verb: v, Msg: fmt.Sprintf("parameter %q is given twice.", k)}
			}
			c.Params[k] = val
		}
		if i < len(rest) {
			if v == VerbPlan {
				return nil, &UsageError{Verb: v, Msg: fmt.Sprintf("%q is not a param=value argument.", rest[i])}
			}
			c.Reason = strings.Join(rest[i:], " ")
		}
	default:
		if len(rest) < spec.min || (spec.max >= 0 && len(rest) > spec.max) {
			return nil, &UsageError{Verb: v, Msg: countMsg(spec, len(rest))}
		}
		c.Args = rest
	}
	if err := checkArgs(c); err != nil {
		return nil, err
	}
	return c, nil
}

func countMsg(s verbSpec, n int) string {
	switch {
	case s.max == 0:
		return fmt.Sprintf("%s takes no arguments.", s.verb)
	case n < s.min && s.min == 2:
		return fmt.Sprintf("%s needs a run and a step.", s.verb)
	case n < s.min:
		return fmt.Sprintf("%s needs a run ID.", s.verb)
	default:
		return fmt.Sprintf("%s takes at most %d argument(s), got %d.", s.verb, s.max, n)
	}
}

func checkArgs(c *Command) error {
	switch c.Verb {
	case VerbAssess, VerbPlan, VerbStart:
		if len(c.Args) > 0 && !nameRE.MatchString(c.Args[0]) {
			return &UsageError{Verb: c.Verb, Msg: fmt.Sprintf("%q is not a runbook name (lowercase letters, digits and dashes).", c.Args[0])}
		}
	case VerbStatus, VerbPause, VerbResume, VerbAbort, VerbReport, VerbRetry, VerbSkip:
		if len(c.Args) > 0 && !runRE.MatchString(c.Args[0]) {
			return &UsageError{Verb: c.Verb, Msg: fmt.Sprintf("%q is not a run ID.", c.Args[0])}
		}
		if len(c.Args) > 1 && !stepRE.MatchString(c.Args[1]) {
			return &UsageError{Verb: c.Verb, Msg: fmt.Sprintf("%q is not a step ID.", c.Args[1])}
		}
	}
	return nil
}

// splitWords splits on blanks, keeping "double quoted" or 'single quoted'
// runs together (so that param="two words" works).
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'' || r == '“' || r == '”':
			if r == '“' || r == '”' {
				r = '”'
			}
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
