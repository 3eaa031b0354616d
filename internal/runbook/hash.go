package runbook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"gopkg.in/yaml.v3"
)

// The plan hash covers what a run does and who must approve it: the
// approval policy, regions (cloud region), connections as written (secret
// references, never values), parameters (name, default, required), the
// assess checks and the phases with every step and its `with` content as
// decoded into the kind's config (key order, quoting, anchors and comments
// do not count; step durations, poll included, count by their value), the
// bound parameter values, and the connections overlay applied (see
// Overlay; the fields it set are in the connections too). Templates count
// as written: what they expand to at run time ({{ now }}, {{ .run.id }},
// outputs) does not.
// Descriptions, severity, channel and expected duration are presentation
// and do not change the hash; the notify section (who is told what) does.

type hashDoc struct {
	Version     string                    `json:"v"`
	Name        string                    `json:"name"`
	Approval    hashApproval              `json:"approval"`
	Regions     map[string]string         `json:"regions"`
	Connections map[string]hashConnection `json:"connections"`
	Params      []hashParam               `json:"params"`
	Assess      []hashStep                `json:"assess"`
	Phases      []hashPhase               `json:"phases"`
	Values      map[string]string         `json:"values,omitempty"`
	Notify      any                       `json:"notify,omitempty"`
	// Overlay is the digest of the connections overlay applied (empty
	// without one, so that hashes without an overlay are unchanged).
	Overlay string `json:"overlay,omitempty"`
}

type hashApproval struct {
	Required       int      `json:"required"`
	Groups         []string `json:"groups"`
	Users          []string `json:"users"`
	AllowRequester bool     `json:"allowRequester"`
	Expiry         int64    `json:"expiry"`
}

type hashConnection struct {
	Type   string            `json:"type"`
	Region string            `json:"region"`
	Fields map[string]string `json:"fields"`
}

type hashParam struct {
	Name     string `json:"name"`
	Default  string `json:"default"`
	Required bool   `json:"required"`
}

type hashPhase struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	Steps []hashStep `json:"steps"`
}

type hashStep struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Kind          string `json:"kind"`
	Connection    string `json:"connection"`
	Needs         []string
	Timeout       int64 `json:"timeout"`
	Attempts      int   `json:"attempts"`
	Backoff       int64 `json:"backoff"`
	MaxBackoff    int64 `json:"maxBackoff"`
	When          string
	AlternativeOf string
	// Poll counts only when given, so that the hashes of runbooks without
	// it are those they had before poll existed.
	PollInterval int64 `json:"pollInterval,omitempty"`
	PollMax      int64 `json:"pollMax,omitempty"`
	With         any   `json:"with"`
}

// PlanHash returns the hex SHA-256 of the runbook's canonical plan with the
// given parameter values bound (pass BindParams' result; nil for none).
// It is stable across YAML formatting, key order and comments, and changes
// with any semantic change.
func (rb *Runbook) PlanHash(params map[string]string) string {
	doc := hashDoc{Version: "failoverbot-plan/1", Name: rb.Name,
		Approval: hashApproval{Required: rb.Approval.Required, Groups: sorted(rb.Approval.Groups),
			Users: sorted(rb.Approval.Users), AllowRequester: rb.Approval.AllowRequester, Expiry: int64(rb.Approval.Expiry)},
		Regions:     map[string]string{},
		Connections: map[string]hashConnection{},
		Overlay:     rb.overlayHash(),
	}
	for n, r := range rb.Regions {
		doc.Regions[n] = r.CloudRegion
	}
	for n, c := range rb.Connections {
		doc.Connections[n] = hashConnection{Type: c.Type, Region: c.Region, Fields: c.Fields}
	}
	for _, p := range rb.Params {
		doc.Params = append(doc.Params, hashParam{Name: p.Name, Default: p.Default, Required: p.Required})
	}
	withs := map[*Step]*rawStep{}
	if rb.src != nil {
		for i, s := range rb.src.Assess {
			if i < len(rb.Assess) {
				withs[rb.Assess[i]] = s
			}
		}
		for i, p := range rb.src.Phases {
			for j, s := range p.Steps {
				if i < len(rb.Phases) && j < len(rb.Phases[i].Steps) {
					withs[rb.Phases[i].Steps[j]] = s
				}
			}
		}
	}
	hs := func(s *Step) hashStep {
		h := hashStep{ID: s.ID, Name: s.Name, Kind: s.Kind, Connection: s.Connection, Needs: sorted(s.Needs),
			Timeout: int64(s.Timeout), Attempts: s.Retry.Attempts, Backoff: int64(s.Retry.Backoff),
			MaxBackoff: int64(s.Retry.MaxBackoff), AlternativeOf: s.AlternativeOf,
			PollInterval: int64(s.Poll.Interval), PollMax: int64(s.Poll.Max), With: withValue(withs[s])}
		if rb.src != nil {
			h.When = whenOf(rb.src, s)
		}
		return h
	}
	for _, s := range rb.Assess {
		doc.Assess = append(doc.Assess, hs(s))
	}
	for _, p := range rb.Phases {
		hp := hashPhase{ID: p.ID, Name: p.Name}
		for _, s := range p.Steps {
			hp.Steps = append(hp.Steps, hs(s))
		}
		doc.Phases = append(doc.Phases, hp)
	}
	if len(params) > 0 {
		doc.Values = params
	}
	doc.Notify = hashNotify(rb.Notify)
	b, err := json.Marshal(doc)
	if err != nil {
		// Only maps with string keys and plain values are marshalled.
		panic("runbook: plan hash: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// whenOf finds the condition of a step in the raw form.
func whenOf(raw *rawRunbook, s *Step) string {
	for _, r := range raw.Assess {
		if r.ID.Value == s.ID && s.Phase == "" {
			return r.When.Value
		}
	}
	for _, p := range raw.Phases {
		for _, r := range p.Steps {
			if r.ID.Value == s.ID && p.ID.Value == s.Phase {
				return r.When.Value
			}
		}
	}
	return ""
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// withValue is a step's config as decoded at load time, which makes the
// hash independent of YAML style (3 and "3" in a string field are the same
// config); the normalised node when the config cannot be marshalled.
func withValue(s *rawStep) any {
	if s == nil {
		return nil
	}
	if s.config != nil {
		if b, err := json.Marshal(s.config); err == nil {
			return json.RawMessage(b)
		}
	}
	return nodeValue(s.With, 0)
}

// nodeValue normalises a YAML node to JSON-able values: mappings to maps
// (merge keys applied, aliases followed), scalars by their resolved type.
func nodeValue(n *yaml.Node, depth int) any {
	n = deref(n)
	if n == nil || depth > 64 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for _, p := range pairs(n, 0) {
			m[p.key.Value] = nodeValue(p.val, depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = nodeValue(c, depth+1)
		}
		return out
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!str":
		return n.Value
	}
	var v any
	if err := n.Decode(&v); err == nil {
		if _, err := json.Marshal(v); err == nil {
			return map[string]any{n.ShortTag(): v}
		}
	}
	return map[string]any{n.ShortTag(): n.Value}
}
