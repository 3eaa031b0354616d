package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// PatchConfig configures kubernetes.patch (`kubectl patch configmap/service …`):
// patch any object. Check is done when the live object already holds the
// patch (merge and strategic: every field of the patch has the patched
// value; json: every operation would leave the object unchanged), so a
// second Apply after a crash changes nothing.
type PatchConfig struct {
	// Namespace of the object (empty for cluster-scoped resources).
	Namespace string `yaml:"namespace"`
	// Resource is a kubectl-style resource: service, configmap,
	// deployments.apps (required).
	Resource string `yaml:"resource"`
	// Name of the object (required).
	Name string `yaml:"name"`
	// Type is strategic (default, as kubectl), merge or json.
	Type string `yaml:"type"`
	// Patch is the patch: a YAML mapping (merge, strategic) or list of
	// operations (json), or the same as a JSON string (required). String
	// values in it may be templated.
	Patch any `yaml:"patch"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *PatchConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, false)
	e.resource("resource", c.Resource)
	if e.Required("name", c.Name) {
		e.name("name", c.Name)
	}
	if c.Type == "" {
		c.Type = PatchStrategic
	}
	e.OneOf("type", c.Type, PatchStrategic, PatchMerge, PatchJSON)
	c.validatePatch(&e)
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

func (c *PatchConfig) validatePatch(e *errs) {
	p := c.Patch
	if s, ok := p.(string); ok {
		if s == "" {
			p = nil
		} else if steps.IsTemplate(s) && !json.Valid([]byte(s)) {
			return // a whole templated patch is checked once expanded
		} else if err := json.Unmarshal([]byte(s), &p); err != nil {
			e.Add("patch", "is not valid JSON: %v", err)
			return
		}
	}
	switch v := p.(type) {
	case nil:
		e.Add("patch", "is required")
	case map[string]any:
		if c.Type == PatchJSON {
			e.Add("patch", "a json patch must be a list of operations, got a mapping")
		} else if len(v) == 0 {
			e.Add("patch", "must not be empty")
		}
	case []any:
		if c.Type != PatchJSON {
			e.Add("patch", "a %s patch must be a mapping, got a list (use type: json for operations)", c.Type)
			return
		}
		if len(v) == 0 {
			e.Add("patch", "must not be empty")
		}
		for i, op := range v {
			m, ok := op.(map[string]any)
			f := fmt.Sprintf("patch[%d]", i)
			if !ok {
				e.Add(f, "must be an operation {op, path, value}")
				continue
			}
			switch m["op"] {
			case "add", "remove", "replace", "move", "copy", "test":
			default:
				e.Add(f+".op", "must be one of add, remove, replace, move, copy, test, got %v", m["op"])
			}
			if path, _ := m["path"].(string); path == "" {
				e.Add(f+".path", "is required")
			} else if m["op"] == "add" && strings.HasSuffix(path, "/-") {
				e.Add(f+".path", "ends in /- (append): a second run would append again; add at an index, or use a merge or strategic patch")
			}
		}
	default:
		e.Add("patch", "must be a mapping, a list or a JSON string, got %T", p)
	}
}

// ExecProbe is a command run in a pod to observe state: it holds when the
// command exits 0 and its trimmed standard output matches.
type ExecProbe struct {
	// Command is the argv to run (required); no shell unless you name one.
	Command []string `yaml:"command"`
	// Output, optional, is what the trimmed standard output must equal.
	Output string `yaml:"output"`
	// OutputContains, optional, must occur in the standard output.
	OutputContains string `yaml:"outputContains"`
}

func (p *ExecProbe) validate(e *errs, prefix string) {
	e.command(prefix+"command", p.Command)
}

// PodTarget chooses the pod a command runs in: exactly one of pod and
// selector (the first Running, Ready pod it matches, by name).
type PodTarget struct {
	// Namespace of the pod (required).
	Namespace string `yaml:"namespace"`
	// Pod is the pod's name.
	Pod string `yaml:"pod"`
	// Selector is a label selector.
	Selector string `yaml:"selector"`
	// Container, optional (default: the pod's first container).
	Container string `yaml:"container"`
}

func (t *PodTarget) validate(e *errs) {
	e.namespace("namespace", t.Namespace, true)
	e.ExactlyOne([]string{"pod", "selector"}, t.Pod != "", t.Selector != "")
	e.name("pod", t.Pod)
	e.selector("selector", t.Selector)
	if t.Container != "" && !steps.IsTemplate(t.Container) && !dns1123Label.MatchString(t.Container) {
		e.Add("container", "must be a container name, got %q", t.Container)
	}
}

// ExecConfig configures kubernetes.exec (`kubectl exec … -- pg_ctl promote`,
// `touch /tmp/postgresql.trigger.5432`): run a command in a pod. Commands
// are not idempotent by themselves, so a check is required: Check runs it,
// and Apply runs command only when the check does not hold yet; the step is
// done when the check holds. Output: output (the check's trimmed standard
// output, at most 4 KiB).
type ExecConfig struct {
	PodTarget `yaml:",inline"`
	// Command is the argv Apply runs (required).
	Command []string `yaml:"command"`
	// Check observes whether the command took effect (required).
	Check *ExecProbe `yaml:"check"`
	// CommandTimeout, optional, bounds each command (default: the step's
	// timeout; a base backup may take hours).
	CommandTimeout string `yaml:"commandTimeout"`
	// RequestTimeout bounds each other call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults checks every field.
func (c *ExecConfig) CheckAndSetDefaults() error {
	var e errs
	c.PodTarget.validate(&e)
	e.duration("commandTimeout", c.CommandTimeout)
	e.requestTimeout(&c.RequestTimeout)
	e.command("command", c.Command)
	if c.Check == nil {
		e.Add("check", "is required: without it the step cannot tell whether the command took effect")
	} else {
		c.Check.validate(&e, "check.")
	}
	return e.Err()
}

// ExecCheckConfig configures kubernetes.execCheck, a read-only probe that
// runs a command in a pod (`kubectl exec mimir-api-0 -- python -c "…test_connection()"`):
// done when it exits 0 and its output matches. Output: output (trimmed
// standard output, at most 4 KiB).
type ExecCheckConfig struct {
	PodTarget `yaml:",inline"`
	ExecProbe `yaml:",inline"`
	// CommandTimeout, optional, bounds the command (default: the step's timeout).
	CommandTimeout string `yaml:"commandTimeout"`
	// RequestTimeout bounds each other call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults checks every field.
func (c *ExecCheckConfig) CheckAndSetDefaults() error {
	var e errs
	c.PodTarget.validate(&e)
	e.duration("commandTimeout", c.CommandTimeout)
	e.requestTimeout(&c.RequestTimeout)
	c.ExecProbe.validate(&e, "")
	return e.Err()
}

// ApplyConfig configures kubernetes.apply (`kubectl apply -f job.yaml`):
// server-side apply of manifests (field manager "failoverbot"). Check is
// done when every object exists with the applied fields and, with wait,
// when applied Jobs have succeeded and Deployments/StatefulSets are ready.
// Exactly one of file and manifest is required.
type ApplyConfig struct {
	// Namespace for objects that name none.
	Namespace string `yaml:"namespace"`
	// File is a manifest file, relative to the runbook's directory.
	File string `yaml:"file"`
	// Manifest is inline YAML, one or more documents.
	Manifest string `yaml:"manifest"`
	// Wait also waits for Jobs to succeed and workloads to be ready.
	Wait bool `yaml:"wait"`
	// RequestTimeout bounds each call to the API server (default 10s).
	RequestTimeout string `yaml:"requestTimeout"`
}

// CheckAndSetDefaults fills defaults and checks every field.
func (c *ApplyConfig) CheckAndSetDefaults() error {
	var e errs
	e.namespace("namespace", c.Namespace, false)
	e.ExactlyOne([]string{"file", "manifest"}, c.File != "", c.Manifest != "")
	if c.Manifest != "" && !steps.IsTemplate(c.Manifest) {
		validateManifest(&e, c.Manifest)
	}
	e.requestTimeout(&c.RequestTimeout)
	return e.Err()
}

// validateManifest checks that every YAML document names an object.
func validateManifest(e *errs, manifest string) {
	dec := yaml.NewDecoder(bytes.NewReader([]byte(manifest)))
	for i := 1; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			if i == 1 {
				e.Add("manifest", "holds no object")
			}
			return
		}
		if err != nil {
			e.Add("manifest", "is not YAML: %v", err)
			return
		}
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			e.Add("manifest", "document %d is not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)", i)
			continue
		}
		var obj struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if err := doc.Decode(&obj); err != nil {
			e.Add("manifest", "document %d: %v", i, err)
			continue
		}
		for _, f := range []struct{ name, v string }{
			{"apiVersion", obj.APIVersion}, {"kind", obj.Kind}, {"metadata.name", obj.Metadata.Name},
		} {
			if f.v == "" {
				e.Add("manifest", "document %d: %s is required", i, f.name)
			}
		}
	}
}
