package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

var (
	nameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	idRe    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	paramRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Defaults of the approval policy.
const (
	DefaultApprovals = 2
	DefaultExpiry    = 15 * time.Minute
)

// stepInfo is what validation knows of one step (assess or phase).
type stepInfo struct {
	raw   *rawStep
	step  *Step
	phase int // index in phases, -1 for assess checks
	kind  steps.Kind
	known bool // kind is registered
}

type validator struct {
	*issues
	reg    *steps.Registry
	raw    *rawRunbook
	rb     *Runbook
	params map[string]bool
	// connRun names, per connection, a .run field its templates use.
	connRun map[string]string
	byID    map[string]*stepInfo
	order   []*stepInfo
	// policy checks ${env:…} and ${secret:…} references (nil: none).
	policy interface{ CheckRef(kind, name string) error }
}

// validate turns the raw form into a Runbook, reporting every problem.
func (v *validator) validate() {
	raw := v.raw
	rb := &Runbook{Source: v.file, Regions: map[string]Region{}, Connections: map[string]Connection{}}
	v.rb = rb
	switch {
	case !raw.Name.Set || raw.Name.Value == "":
		v.add(raw.Line, "name", "missing runbook name")
	case !nameRe.MatchString(raw.Name.Value):
		v.add(raw.Name.Line, "name", "bad name %q: use lower-case letters, digits and dashes", raw.Name.Value)
	}
	rb.Name = raw.Name.Value
	rb.Description = raw.Description.Value
	rb.Severity = raw.Severity.Value
	rb.Channel = raw.Channel.Value
	rb.ExpectedDuration = v.duration(raw.ExpectedDuration, "expectedDuration")
	v.approval()
	for _, r := range raw.Regions {
		if !idRe.MatchString(r.Name) && !nameRe.MatchString(r.Name) {
			v.add(r.Line, join("regions", r.Name), "bad region name %q: use lower-case letters, digits, _ and -", r.Name)
		}
		rb.Regions[r.Name] = Region{Name: r.Name, Description: r.Description.Value, CloudRegion: r.CloudRegion.Value}
	}
	v.paramsDecl()
	for _, c := range raw.Connections {
		v.connection(c)
	}
	v.collectSteps()
	for _, si := range v.order {
		v.stepRefs(si)
	}
	v.cycles()
	v.notify()
}

func (v *validator) approval() {
	a := v.raw.Approval
	pol := ApprovalPolicy{Required: DefaultApprovals, Expiry: DefaultExpiry}
	if a != nil {
		if a.RequiredSet {
			pol.Required = a.Required
			if a.Required < 0 {
				v.add(a.RequiredLine, "approval.required", "must be ≥ 0")
			}
		}
		for _, g := range a.Groups {
			pol.Groups = append(pol.Groups, g.Value)
		}
		for _, u := range a.Users {
			pol.Users = append(pol.Users, u.Value)
		}
		pol.AllowRequester = a.AllowRequester
		if a.Expiry.Set {
			pol.Expiry = v.duration(a.Expiry, "approval.expiry")
			if pol.Expiry == 0 {
				v.add(a.Expiry.Line, "approval.expiry", "must be > 0")
			}
		}
	}
	v.rb.Approval = pol
}

func (v *validator) paramsDecl() {
	v.params = map[string]bool{}
	first := map[string]int{}
	for i, p := range v.raw.Params {
		path := index("params", i)
		switch {
		case !p.Name.Set || p.Name.Value == "":
			v.add(p.Line, join(path, "name"), "missing parameter name")
			continue
		case !paramRe.MatchString(p.Name.Value):
			v.add(p.Name.Line, join(path, "name"), "bad parameter name %q: use letters, digits and _ (templates name it as .params.<name>)", p.Name.Value)
		}
		if l, dup := first[p.Name.Value]; dup {
			v.add(p.Name.Line, join(path, "name"), "duplicate parameter %q (first at line %d)", p.Name.Value, l)
			continue
		}
		first[p.Name.Value] = p.Name.Line
		if steps.IsTemplate(p.Default.Value) {
			v.add(p.Default.Line, join(path, "default"), "a default is a plain value: it cannot hold {{ or ${")
		}
		if p.Required && p.Default.Set {
			v.add(p.Default.Line, join(path, "default"), "a required parameter cannot have a default")
		}
		v.params[p.Name.Value] = true
		v.rb.Params = append(v.rb.Params, Param{Name: p.Name.Value, Description: p.Description.Value, Default: p.Default.Value, Required: p.Required})
	}
}

// typeHasField reports whether a connection type takes field f.
func typeHasField(t steps.ConnectionType, f string) bool {
	return slices.Contains(t.Required, f) || slices.Contains(t.Optional, f)
}

func (v *validator) connection(c rawConnection) {
	path := join("connections", c.Name)
	if !idRe.MatchString(c.Name) && !nameRe.MatchString(c.Name) {
		v.add(c.Line, path, "bad connection name %q: use lower-case letters, digits, _ and -", c.Name)
	}
	conn := Connection{Name: c.Name, Type: c.Type.Value, Region: c.Region.Value, Fields: map[string]string{}}
	if c.Region.Set {
		if _, ok := v.rb.Regions[c.Region.Value]; !ok {
			v.add(c.Region.Line, join(path, "region"), "unknown region %q%s", c.Region.Value, declared(keys(v.rb.Regions)))
		}
	}
	for _, f := range c.Fields {
		conn.Fields[f.Name] = f.Value
		if r := v.template(f.Value, f.Line, join(path, f.Name), nil, true); len(r.Run) > 0 && v.connRun[c.Name] == "" {
			if v.connRun == nil {
				v.connRun = map[string]string{}
			}
			v.connRun[c.Name] = ".run." + r.Run[0]
		}
	}
	v.rb.Connections[c.Name] = conn
	if !c.Type.Set || c.Type.Value == "" {
		v.add(c.Line, join(path, "type"), "missing connection type (one of: %s)", strings.Join(v.reg.ConnectionTypes(), ", "))
		return
	}
	t, ok := v.reg.ConnectionType(c.Type.Value)
	if !ok {
		v.add(c.Type.Line, join(path, "type"), "unknown connection type %q (known: %s)", c.Type.Value, strings.Join(v.reg.ConnectionTypes(), ", "))
		return
	}
	allowed := append(slices.Clone(t.Required), t.Optional...)
	for _, f := range c.Fields {
		if !slices.Contains(allowed, f.Name) {
			v.add(f.Line, join(path, f.Name), "unknown field %q for connection type %s%s", f.Name, t.Name, declaredFields(f.Name, allowed))
		}
	}
	for _, req := range t.Required {
		if _, ok := conn.Fields[req]; ok {
			continue
		}
		if req == "region" && c.Region.Set {
			continue // filled from the runbook region's cloudRegion
		}
		v.add(c.Line, join(path, req), "missing field %q (required by connection type %s)", req, t.Name)
	}
}

func declaredFields(name string, allowed []string) string {
	if s := suggest(name, allowed); s != "" {
		return s
	}
	return " (allowed: " + strings.Join(append([]string{"type", "region"}, allowed...), ", ") + ")"
}

func declared(names []string) string {
	if len(names) == 0 {
		return " (no regions are declared)"
	}
	return " (declared: " + strings.Join(names, ", ") + ")"
}

// cmpOr returns the first non-empty string (names default to ids).
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// collectSteps validates each step on its own and indexes them by ID.
func (v *validator) collectSteps() {
	v.byID = map[string]*stepInfo{}
	for _, s := range v.raw.Assess {
		v.rb.Assess = append(v.rb.Assess, v.step(s, -1, ""))
	}
	phaseIDs := map[string]int{}
	for i, p := range v.raw.Phases {
		ph := &Phase{ID: p.ID.Value, Name: cmpOr(p.Name.Value, p.ID.Value)}
		switch {
		case !p.ID.Set || p.ID.Value == "":
			v.add(p.Line, join(p.Path, "id"), "missing phase id")
		case !idRe.MatchString(p.ID.Value):
			v.add(p.ID.Line, join(p.Path, "id"), "bad id %q: use [a-z][a-z0-9_]*", p.ID.Value)
		default:
			if l, dup := phaseIDs[p.ID.Value]; dup {
				v.add(p.ID.Line, join(p.Path, "id"), "duplicate phase id %q (first at line %d)", p.ID.Value, l)
			}
			phaseIDs[p.ID.Value] = p.ID.Line
		}
		if len(p.Steps) == 0 {
			v.add(p.Line, join(p.Path, "steps"), "a phase needs at least one step")
		}
		for _, s := range p.Steps {
			ph.Steps = append(ph.Steps, v.step(s, i, ph.ID))
		}
		v.rb.Phases = append(v.rb.Phases, ph)
	}
}

func (v *validator) step(s *rawStep, phase int, phaseID string) *Step {
	st := &Step{ID: s.ID.Value, Name: cmpOr(s.Name.Value, s.ID.Value), Kind: s.Kind.Value, Phase: phaseID,
		Connection: s.Connection.Value, AlternativeOf: s.AlternativeOf.Value, Line: s.Line}
	si := &stepInfo{raw: s, step: st, phase: phase}
	v.order = append(v.order, si)
	switch {
	case !s.ID.Set || s.ID.Value == "":
		v.add(s.Line, join(s.Path, "id"), "missing step id")
	case !idRe.MatchString(s.ID.Value):
		v.add(s.ID.Line, join(s.Path, "id"), "bad id %q: use [a-z][a-z0-9_]* (templates name steps by id)", s.ID.Value)
	default:
		if first, dup := v.byID[s.ID.Value]; dup {
			v.add(s.ID.Line, join(s.Path, "id"), "duplicate step id %q (first at line %d)", s.ID.Value, first.raw.ID.Line)
		} else {
			v.byID[s.ID.Value] = si
		}
	}
	for _, n := range s.Needs {
		st.Needs = append(st.Needs, n.Value)
	}
	st.Timeout = v.duration(s.Timeout, join(s.Path, "timeout"))
	if s.Retry != nil {
		st.Retry = Retry{Attempts: s.Retry.Attempts,
			Backoff:    v.duration(s.Retry.Backoff, join(s.Path, "retry.backoff")),
			MaxBackoff: v.duration(s.Retry.MaxBackoff, join(s.Path, "retry.maxBackoff"))}
		if st.Retry.MaxBackoff > 0 && st.Retry.MaxBackoff < st.Retry.Backoff {
			v.add(s.Retry.MaxBackoff.Line, join(s.Path, "retry.maxBackoff"), "must be ≥ backoff (%s)", st.Retry.Backoff)
		}
	}
	st.Poll = v.poll(s, st.Timeout)
	if phase < 0 {
		v.assessOnly(s)
	}
	if !s.Kind.Set || s.Kind.Value == "" {
		v.add(s.Line, join(s.Path, "kind"), "missing step kind; %s", kindsHint)
		return st
	}
	kind, ok := v.reg.Kind(s.Kind.Value)
	if !ok {
		v.add(s.Kind.Line, join(s.Path, "kind"), "unknown step kind %q%s; %s", s.Kind.Value, suggestKind(s.Kind.Value, v.reg.Kinds()), kindsHint)
		return st
	}
	si.kind, si.known = kind, true
	st.ReadOnly = kind.ReadOnly()
	if phase < 0 && !kind.ReadOnly() {
		v.add(s.Kind.Line, join(s.Path, "kind"), "assess checks must be read-only, and kind %s changes things", kind.Name())
	}
	if phase >= 0 && kind.ReadOnly() && s.Retry != nil && s.Retry.AttemptsLine > 0 {
		v.add(s.Retry.AttemptsLine, join(s.Path, "retry.attempts"),
			"kind %s is read-only: it has no Apply to attempt (a failing Check is retried until the step's timeout)", kind.Name())
	}
	v.stepConnection(si)
	s.config = v.checkWith(kind, s.With, s.WithLine, join(s.Path, "with"))
	return st
}

func (v *validator) stepConnection(si *stepInfo) {
	s, kind := si.raw, si.kind
	path := join(s.Path, "connection")
	switch {
	case kind.Connection() == "" && s.Connection.Set && s.Connection.Value != "":
		v.add(s.Connection.Line, path, "kind %s takes no connection", kind.Name())
	case kind.Connection() != "" && (!s.Connection.Set || s.Connection.Value == ""):
		v.add(s.Line, path, "missing connection: kind %s needs a connection of type %s%s", kind.Name(), kind.Connection(), v.connsOfType(kind.Connection()))
	case kind.Connection() != "":
		c, ok := v.rb.Connections[s.Connection.Value]
		if !ok {
			v.add(s.Connection.Line, path, "unknown connection %q%s", s.Connection.Value, v.connsOfType(kind.Connection()))
		} else if c.Type != kind.Connection() {
			v.add(s.Connection.Line, path, "connection %s is of type %s, and kind %s needs %s%s", c.Name, c.Type, kind.Name(), kind.Connection(), v.connsOfType(kind.Connection()))
		}
	}
}

// connsOfType lists the declared connections of type t, for hints.
func (v *validator) connsOfType(t string) string {
	var names []string
	for _, n := range keys(v.rb.Connections) {
		if v.rb.Connections[n].Type == t {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf(" (no %s connection is declared)", t)
	}
	return " (" + t + " connections: " + strings.Join(names, ", ") + ")"
}
