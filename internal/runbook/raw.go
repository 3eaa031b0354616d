package runbook

import (
	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// The raw form is the runbook as written, with the line of every value: it
// is decoded strictly from YAML nodes, then validated into the types of
// types.go. Nothing outside this package sees it.

type rawRunbook struct {
	Line             int
	Name             scalar
	Description      scalar
	Severity         scalar
	ExpectedDuration scalar
	Channel          scalar
	Approval         *rawApproval
	Regions          []rawRegion
	Connections      []rawConnection
	Params           []rawParam
	Assess           []*rawStep
	Phases           []*rawPhase
	Notify           *rawNotify
}

type rawApproval struct {
	Line           int
	Required       int
	RequiredLine   int
	RequiredSet    bool
	Groups         []scalar
	Users          []scalar
	AllowRequester bool
	Expiry         scalar
}

type rawRegion struct {
	Name        string
	Line        int
	Description scalar
	CloudRegion scalar
}

type rawConnection struct {
	Name   string
	Line   int
	Type   scalar
	Region scalar
	// Fields are the type's own fields, in file order.
	Fields []rawField
}

type rawField struct {
	Name string
	scalar
}

type rawParam struct {
	Line        int
	Name        scalar
	Description scalar
	Default     scalar
	Required    bool
}

type rawPhase struct {
	Line  int
	Path  string
	ID    scalar
	Name  scalar
	Steps []*rawStep
}

type rawStep struct {
	Line          int
	Path          string
	ID            scalar
	Name          scalar
	Kind          scalar
	Connection    scalar
	Needs         []scalar
	Timeout       scalar
	Retry         *rawRetry
	Poll          *rawPoll
	When          scalar
	AlternativeOf scalar
	// With is the raw config node (nil when absent); WithLine its key's line.
	With     *yaml.Node
	WithLine int
	// config is With decoded into the kind's config at load time (templates
	// unexpanded): the plan hash covers it, so that YAML style does not.
	config steps.Config
}

type rawRetry struct {
	Line         int
	Attempts     int
	AttemptsLine int
	Backoff      scalar
	MaxBackoff   scalar
}

type rawPoll struct {
	Line     int
	Interval scalar
	Max      scalar
}

var (
	topFields      = []string{"name", "description", "severity", "expectedDuration", "channel", "approval", "regions", "connections", "params", "assess", "phases", "notify"}
	approvalFields = []string{"required", "groups", "users", "allowRequester", "expiry"}
	regionFields   = []string{"cloudRegion", "description"}
	paramFields    = []string{"name", "description", "default", "required"}
	phaseFields    = []string{"id", "name", "steps"}
	stepFields     = []string{"id", "name", "kind", "connection", "needs", "timeout", "retry", "poll", "when", "alternativeOf", "with"}
	retryFields    = []string{"attempts", "backoff", "maxBackoff"}
	pollFields     = []string{"interval", "max"}
)

// decodeRaw reads the document's root mapping into the raw form.
func (is *issues) decodeRaw(root *yaml.Node) *rawRunbook {
	rb := &rawRunbook{}
	root = deref(root)
	if root == nil {
		is.add(1, "", "empty runbook")
		return nil
	}
	rb.Line = root.Line
	ok := is.mapping(root, "", topFields, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			rb.Name = is.str(v, key)
		case "description":
			rb.Description = is.str(v, key)
		case "severity":
			rb.Severity = is.str(v, key)
		case "expectedDuration":
			rb.ExpectedDuration = is.str(v, key)
		case "channel":
			rb.Channel = is.str(v, key)
		case "approval":
			rb.Approval = is.decodeApproval(k, v)
		case "regions":
			if isNull(v) {
				return
			}
			is.mapping(v, key, nil, func(name string, k, v *yaml.Node) {
				r := rawRegion{Name: name, Line: k.Line}
				path := join("regions", name)
				is.mapping(v, path, regionFields, func(f string, _, v *yaml.Node) {
					switch f {
					case "cloudRegion":
						r.CloudRegion = is.str(v, join(path, f))
					case "description":
						r.Description = is.str(v, join(path, f))
					}
				})
				rb.Regions = append(rb.Regions, r)
			})
		case "connections":
			if isNull(v) {
				return
			}
			is.mapping(v, key, nil, func(name string, k, v *yaml.Node) {
				rb.Connections = append(rb.Connections, is.decodeConnection(name, k, v))
			})
		case "params":
			is.sequence(v, key, func(i int, el *yaml.Node) {
				rb.Params = append(rb.Params, is.decodeParam(el, index(key, i)))
			})
		case "assess":
			is.sequence(v, key, func(i int, el *yaml.Node) {
				rb.Assess = append(rb.Assess, is.decodeStep(el, index(key, i)))
			})
		case "phases":
			is.sequence(v, key, func(i int, el *yaml.Node) {
				rb.Phases = append(rb.Phases, is.decodePhase(el, index(key, i)))
			})
		case "notify":
			rb.Notify = is.decodeNotify(k, v)
		}
	})
	if !ok {
		return nil
	}
	return rb
}

func (is *issues) decodeApproval(k, v *yaml.Node) *rawApproval {
	a := &rawApproval{Line: k.Line}
	if isNull(v) {
		return a
	}
	is.mapping(v, "approval", approvalFields, func(key string, _, v *yaml.Node) {
		path := join("approval", key)
		switch key {
		case "required":
			a.Required, a.RequiredLine, a.RequiredSet = is.integer(v, path)
		case "groups":
			a.Groups = is.strList(v, path)
		case "users":
			a.Users = is.strList(v, path)
		case "allowRequester":
			a.AllowRequester, _ = is.boolean(v, path)
		case "expiry":
			a.Expiry = is.str(v, path)
		}
	})
	return a
}

// decodeConnection reads a connection; which fields its type allows is
// checked during validation, against the registry.
func (is *issues) decodeConnection(name string, k, v *yaml.Node) rawConnection {
	c := rawConnection{Name: name, Line: k.Line}
	path := join("connections", name)
	is.mapping(v, path, nil, func(key string, k, v *yaml.Node) {
		switch key {
		case "type":
			c.Type = is.str(v, join(path, key))
		case "region":
			c.Region = is.str(v, join(path, key))
		default:
			s := is.str(v, join(path, key))
			if s.Set {
				c.Fields = append(c.Fields, rawField{Name: key, scalar: s})
			}
		}
	})
	return c
}

func (is *issues) decodeParam(n *yaml.Node, path string) rawParam {
	p := rawParam{Line: lineOf(n)}
	is.mapping(n, path, paramFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "name":
			p.Name = is.str(v, join(path, key))
		case "description":
			p.Description = is.str(v, join(path, key))
		case "default":
			p.Default = is.str(v, join(path, key))
		case "required":
			p.Required, _ = is.boolean(v, join(path, key))
		}
	})
	return p
}

func (is *issues) decodePhase(n *yaml.Node, path string) *rawPhase {
	p := &rawPhase{Line: lineOf(n), Path: path}
	is.mapping(n, path, phaseFields, func(key string, _, v *yaml.Node) {
		switch key {
		case "id":
			p.ID = is.str(v, join(path, key))
		case "name":
			p.Name = is.str(v, join(path, key))
		case "steps":
			sp := join(path, key)
			is.sequence(v, sp, func(i int, el *yaml.Node) {
				p.Steps = append(p.Steps, is.decodeStep(el, index(sp, i)))
			})
		}
	})
	return p
}

func (is *issues) decodeStep(n *yaml.Node, path string) *rawStep {
	s := &rawStep{Line: lineOf(n), Path: path}
	is.mapping(n, path, stepFields, func(key string, k, v *yaml.Node) {
		fp := join(path, key)
		switch key {
		case "id":
			s.ID = is.str(v, fp)
		case "name":
			s.Name = is.str(v, fp)
		case "kind":
			s.Kind = is.str(v, fp)
		case "connection":
			s.Connection = is.str(v, fp)
		case "needs":
			s.Needs = is.strList(v, fp)
		case "timeout":
			s.Timeout = is.str(v, fp)
		case "when":
			s.When = is.str(v, fp)
		case "alternativeOf":
			s.AlternativeOf = is.str(v, fp)
		case "retry":
			r := &rawRetry{Line: k.Line}
			is.mapping(v, fp, retryFields, func(key string, _, v *yaml.Node) {
				switch key {
				case "attempts":
					r.Attempts, r.AttemptsLine, _ = is.integer(v, join(fp, key))
					if r.Attempts < 0 {
						is.add(lineOf(v), join(fp, key), "must be ≥ 0")
					}
				case "backoff":
					r.Backoff = is.str(v, join(fp, key))
				case "maxBackoff":
					r.MaxBackoff = is.str(v, join(fp, key))
				}
			})
			s.Retry = r
		case "poll":
			p := &rawPoll{Line: k.Line}
			is.mapping(v, fp, pollFields, func(key string, _, v *yaml.Node) {
				switch key {
				case "interval":
					p.Interval = is.str(v, join(fp, key))
				case "max":
					p.Max = is.str(v, join(fp, key))
				}
			})
			s.Poll = p
		case "with":
			if !isNull(v) {
				s.With = v
			}
			s.WithLine = k.Line
		}
	})
	return s
}

func lineOf(n *yaml.Node) int {
	if d := deref(n); d != nil {
		return d.Line
	}
	if n != nil {
		return n.Line
	}
	return 0
}
