package runbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/notify"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty"
	"github.com/failoverbot/failoverbot/internal/notify/stakeholders"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// The notify section says who hears of a run's milestones without anyone
// typing it:
//
//	notify:
//	  public: [database, cache, validate]   # phases or steps whose completion is a public milestone
//	  statuspage: {…}                        # internal/notify/statuspage.Config
//	  pagerduty: {…}                         # internal/notify/pagerduty.Config
//	  stakeholders: {…}                      # internal/notify/stakeholders.Config
//
// Each notifier's settings are decoded strictly into its config and checked
// with file:line errors like a step's `with`. Its strings may use
// {{ .params.NAME }}, ${env:NAME} and ${secret:NAME} (expanded when a run's
// notifiers are built; credentials must be ${secret:…}); its `messages` are
// templates over notify.Data, rendered per notification. The section is
// part of the plan hash. A missing secret of a notifier does not stop a run
// (CheckSecrets leaves them out): the pipeline says in the run's thread
// that the notifier could not be set up.

// notifierKinds are the notifiers a notify section may configure.
var notifierKinds = map[string]func() notify.Config{
	statuspage.Name:   func() notify.Config { return &statuspage.Config{} },
	pagerduty.Name:    func() notify.Config { return &pagerduty.Config{} },
	stakeholders.Name: func() notify.Config { return &stakeholders.Config{} },
}

var notifyFields = []string{"public", pagerduty.Name, stakeholders.Name, statuspage.Name}

// Notify is a runbook's validated notify section.
type Notify struct {
	// Public holds the IDs of the phases and steps whose completion is a
	// public milestone.
	Public []string
	// Notifiers are the configured notifiers, in file order, their configs
	// as written (templates and references unexpanded).
	Notifiers []NotifierConfig

	exp *expander
	red *secret.Redactor
}

// NotifierConfig is one notifier of a notify section.
type NotifierConfig struct {
	// Name is the notifier's kind: statuspage, pagerduty, stakeholders.
	Name   string
	Config notify.Config
	// Line is the line of its key in the runbook.
	Line int
	node *yaml.Node
}

type rawNotify struct {
	Line      int
	Public    []scalar
	Notifiers []rawNotifier
}

type rawNotifier struct {
	Name string
	Line int
	Node *yaml.Node
}

func (is *issues) decodeNotify(k, v *yaml.Node) *rawNotify {
	n := &rawNotify{Line: k.Line}
	if isNull(v) {
		return n
	}
	is.mapping(v, "notify", nil, func(key string, k, v *yaml.Node) {
		switch {
		case key == "public":
			n.Public = is.strList(v, "notify.public")
		case notifierKinds[key] != nil:
			n.Notifiers = append(n.Notifiers, rawNotifier{Name: key, Line: k.Line, Node: v})
		default:
			is.add(k.Line, join("notify", key), "unknown notifier %q%s", key, knownList(key, notifyFields))
		}
	})
	return n
}

// notify validates the notify section into rb.Notify.
func (v *validator) notify() {
	raw := v.raw.Notify
	if raw == nil {
		return
	}
	ids := map[string]bool{}
	for _, p := range v.rb.Phases {
		ids[p.ID] = true
	}
	for id, si := range v.byID {
		if si.phase >= 0 {
			ids[id] = true
		}
	}
	out := &Notify{}
	for i, p := range raw.Public {
		if !ids[p.Value] {
			v.add(p.Line, index("notify.public", i), "unknown phase or step %q%s", p.Value, suggest(p.Value, keys(ids)))
			continue
		}
		out.Public = append(out.Public, p.Value)
	}
	for _, rn := range raw.Notifiers {
		path := join("notify", rn.Name)
		node := rn.Node
		if isNull(node) {
			node = nil
		}
		cfg, _ := v.checkConfig(notifierKinds[rn.Name](), node, rn.Line, path).(notify.Config)
		for _, f := range notifierKinds[rn.Name]().SecretFields() {
			if n := lookup(node, f); n != nil && n.Value != "" && !onlySecretRef(n.Value) {
				v.add(n.Line, join(path, f), "a credential is given as ${secret:NAME}, never written in the runbook")
			}
		}
		forEachString(node, path, func(n *yaml.Node, p string) {
			if !strings.HasPrefix(p, join(path, "messages")+".") {
				v.notifyTemplate(n.Value, n.Line, p)
			}
		})
		if cfg != nil {
			for _, ku := range cfg.MilestoneKeys() {
				if notify.IsMilestoneName(ku.Key) || ids[ku.Key] {
					continue
				}
				line := rn.Line
				if n := lookup(node, ku.Field); n != nil {
					line = n.Line
				}
				v.add(line, join(path, ku.Field), "%q is neither a milestone (%s) nor a phase or step of the runbook%s",
					ku.Key, notify.MilestoneNames(), suggest(ku.Key, keys(ids)))
			}
		}
		out.Notifiers = append(out.Notifiers, NotifierConfig{Name: rn.Name, Config: cfg, Line: rn.Line, node: node})
	}
	v.rb.Notify = out
}

// onlySecretRef reports whether s is one ${secret:NAME} reference.
func onlySecretRef(s string) bool {
	m := refPattern.FindStringSubmatch(s)
	return m != nil && m[0] == s && m[1] == "secret"
}

// notifyTemplate checks a notifier setting's references: parameters that
// exist, no step outputs (a notifier is built before any step runs).
func (v *validator) notifyTemplate(s string, line int, path string) {
	r, probs := analyse(s)
	for _, p := range probs {
		v.add(line, path, "%s", p)
	}
	for _, p := range r.Params {
		if !v.params[p] {
			v.add(line, path, "unknown parameter %q%s", p, paramHint(p, keys(v.params)))
		}
	}
	for _, ref := range r.Steps {
		v.add(line, path, "notifier settings cannot use step outputs (.steps.%s.outputs.%s)", ref.ID, ref.Output)
	}
}

// attachNotify gives the notify section what it expands with at run time.
func attachNotify(rb *Runbook, o *options) {
	if rb.Notify != nil {
		rb.Notify.exp = &expander{secrets: o.secrets, env: o.env}
		rb.Notify.red = o.secrets.Redactor
	}
}

// Build expands the notifiers' settings for a run (its parameters, ${env:…}
// and ${secret:…}; not the messages) and returns their configs, filled and
// checked. A notifier that cannot be built is left out and named in the
// error, scrubbed of secrets; the others are returned.
func (n *Notify) Build(_ context.Context, vars Vars) ([]NotifierConfig, error) {
	if n == nil {
		return nil, nil
	}
	data := templateData(vars)
	var out []NotifierConfig
	var errs []error
	for _, nc := range n.Notifiers {
		cfg, err := n.build(nc, data)
		if err != nil {
			if n.red != nil {
				err = n.red.ScrubError(err)
			}
			errs = append(errs, fmt.Errorf("%s could not be set up: %w", nc.Name, err))
			continue
		}
		out = append(out, NotifierConfig{Name: nc.Name, Config: cfg, Line: nc.Line})
	}
	return out, errors.Join(errs...)
}

func (n *Notify) build(nc NotifierConfig, data tmplData) (notify.Config, error) {
	node := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if nc.node != nil {
		node = cloneNode(nc.node, 0)
	}
	var errs []error
	forEachString(node, "", func(x *yaml.Node, path string) {
		if strings.HasPrefix(path, "messages.") || !steps.IsTemplate(x.Value) {
			return
		}
		if n.exp == nil {
			errs = append(errs, fmt.Errorf("%s: the runbook was not loaded to be run", path))
			return
		}
		val, err := n.exp.expand(x.Value, data)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			return
		}
		x.Value, x.Tag, x.Style = val, "!!str", yaml.DoubleQuotedStyle
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg := notifierKinds[nc.Name]()
	if err := node.Decode(cfg); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// hashNotify is the notify section in the plan hash: public IDs and each
// notifier's config as decoded (templates unexpanded, never a secret).
func hashNotify(n *Notify) any {
	if n == nil {
		return nil
	}
	doc := map[string]any{"public": sorted(n.Public)}
	for _, nc := range n.Notifiers {
		if b, err := json.Marshal(nc.Config); err == nil {
			doc[nc.Name] = json.RawMessage(b)
		} else {
			doc[nc.Name] = nodeValue(nc.node, 0)
		}
	}
	return doc
}

// NotifierNames lists the notifiers of the section.
func (n *Notify) NotifierNames() []string {
	if n == nil {
		return nil
	}
	var out []string
	for _, nc := range n.Notifiers {
		out = append(out, nc.Name)
	}
	return slices.Clip(out)
}
