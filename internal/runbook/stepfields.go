package runbook

import (
	"strings"
	"time"
)

// This file checks the step fields that depend on where the step is: the
// ones an assess check would ignore, the poll, and the kind's name.

// kindsHint ends the errors about a step's kind.
const kindsHint = `"bot kinds" lists every kind`

// suggestKind names the kinds a misspelt kind most likely meant: those
// whose last part it is ("promote": postgres.promote, redis.promote), else
// the closest within a few edits (kind names share long prefixes, so only
// the closest ones are named).
func suggestKind(name string, kinds []string) string {
	lname := strings.ToLower(name)
	var out []string
	for _, k := range kinds {
		if strings.HasSuffix(strings.ToLower(k), "."+lname) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		best := max(1, len(name)/3) + 1
		for _, k := range kinds {
			switch d := levenshtein(lname, strings.ToLower(k)); {
			case d < best:
				best, out = d, []string{k}
			case d == best && len(out) > 0:
				out = append(out, k)
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(out[:min(len(out), 3)], ", ") + "?)"
}

// assessOnly reports the step fields an assess check would ignore: the
// assessment checks each one once, at once, within its timeout.
func (v *validator) assessOnly(s *rawStep) {
	if s.When.Set {
		v.add(s.When.Line, join(s.Path, "when"), "assess checks always run: a condition (when) is not allowed")
	}
	if s.Retry != nil {
		v.add(s.Retry.Line, join(s.Path, "retry"), "an assess check is checked once, within its timeout: retry is not allowed")
	}
	if s.Poll != nil {
		v.add(s.Poll.Line, join(s.Path, "poll"), "an assess check is checked once, within its timeout: poll is not allowed")
	}
}

// poll validates a step's poll block: positive durations, interval ≤ max
// and interval < timeout. A max left out is the interval (a steady poll).
func (v *validator) poll(s *rawStep, timeout time.Duration) Poll {
	p := s.Poll
	if p == nil {
		return Poll{}
	}
	path := join(s.Path, "poll")
	if !p.Interval.Set && !p.Max.Set {
		v.add(p.Line, path, "give an interval, a max or both, e.g. poll: {interval: 15s}")
		return Poll{}
	}
	out := Poll{Interval: v.positive(p.Interval, join(path, "interval")), Max: v.positive(p.Max, join(path, "max"))}
	if out.Interval > 0 && out.Max > 0 && out.Max < out.Interval {
		v.add(p.Max.Line, join(path, "max"), "must be ≥ interval (%s)", out.Interval)
	}
	if out.Interval > 0 && timeout > 0 && out.Interval >= timeout {
		v.add(p.Interval.Line, join(path, "interval"), "must be shorter than the step's timeout (%s)", timeout)
	}
	if out.Max == 0 && !p.Max.Set {
		out.Max = out.Interval
	}
	return out
}

// positive parses a duration that, when given, must be > 0.
func (v *validator) positive(s scalar, path string) time.Duration {
	if !s.Set {
		return 0
	}
	if s.Value == "" {
		v.add(s.Line, path, "must be a duration such as 15s, got nothing")
		return 0
	}
	d := v.duration(s, path)
	if parsed, err := time.ParseDuration(s.Value); err == nil && parsed == 0 {
		v.add(s.Line, path, "must be > 0")
	}
	return d
}
