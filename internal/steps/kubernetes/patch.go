package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Patch is a kubernetes.patch step.
type Patch struct {
	cfg  PatchConfig
	c    *cluster
	data []byte // the patch, JSON

	mu  sync.Mutex
	res *resource // found by discovery on first use
}

var (
	_ steps.Step   = (*Patch)(nil)
	_ steps.Closer = (*Patch)(nil)
)

func newPatch(_ context.Context, cfg *PatchConfig, env steps.Env) (steps.Step, error) {
	c, err := newCluster("kubernetes.patch", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	var data []byte
	if s, ok := cfg.Patch.(string); ok {
		data = []byte(s)
	} else if data, err = json.Marshal(cfg.Patch); err != nil {
		return nil, steps.Permanentf("kubernetes.patch: the patch does not encode as JSON: %v", err)
	}
	if !json.Valid(data) {
		return nil, steps.Permanentf("kubernetes.patch: the patch is not valid JSON")
	}
	return &Patch{cfg: *cfg, c: c, data: data}, nil
}

// target finds the resource through discovery (once) and checks the
// namespace against its scope.
func (p *Patch) target(ctx context.Context) (resource, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.res != nil {
		return *p.res, nil
	}
	r, err := p.c.lookup(ctx, p.cfg.Resource)
	if err != nil {
		return resource{}, err
	}
	if err := scopeCheck("kubernetes.patch", r, p.cfg.Namespace); err != nil {
		return resource{}, err
	}
	p.res = &r
	return r, nil
}

// scopeCheck refuses a namespace for a cluster-scoped resource and its
// absence for a namespaced one.
func scopeCheck(kind string, r resource, namespace string) error {
	switch {
	case r.namespaced && namespace == "":
		return steps.Permanentf("%s: %s are namespaced: namespace is required", kind, r)
	case !r.namespaced && namespace != "":
		return steps.Permanentf("%s: %s are cluster-scoped: namespace must be empty, got %q", kind, r, namespace)
	}
	return nil
}

func (p *Patch) what(r resource) string {
	if p.cfg.Namespace == "" {
		return fmt.Sprintf("%s %s", r, p.cfg.Name)
	}
	return fmt.Sprintf("%s %s/%s", r, p.cfg.Namespace, p.cfg.Name)
}

// Check is done when the live object already holds the patch: the patch
// applied to it locally (the same merge rules as the API server) leaves
// it unchanged. A summary that is not done names the fields that differ,
// with their live values (not for Secrets).
func (p *Patch) Check(ctx context.Context) (steps.Result, error) {
	r, live, err := p.live(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	before, after, _, err := p.applyLocally(r, live)
	if err != nil {
		return steps.Result{}, err
	}
	diffs := differences("", before, after, r.gvk.Kind != "Secret")
	if len(diffs) == 0 {
		return steps.Result{Done: true, Summary: fmt.Sprintf("%s holds the patch", p.what(r))}, nil
	}
	return steps.Result{Summary: fmt.Sprintf("%s differs: %s", p.what(r), list(diffs, 5))}, nil
}

func (p *Patch) live(ctx context.Context) (resource, *unstructured.Unstructured, error) {
	r, err := p.target(ctx)
	if err != nil {
		return resource{}, nil, err
	}
	objs, err := p.c.fetch(ctx, selection{gvr: r.gvr, namespace: p.cfg.Namespace, name: p.cfg.Name})
	if err != nil {
		return resource{}, nil, err
	}
	return r, objs[0], nil
}

// applyLocally applies the patch to the live object as the API server
// would; for a JSON patch it also returns the operations still to send
// (a remove whose path is already gone is done, not an error).
func (p *Patch) applyLocally(r resource, live *unstructured.Unstructured) (before, after any, send []byte, err error) {
	orig, err := json.Marshal(live.Object)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("kubernetes.patch: %w", err)
	}
	var out []byte
	send = p.data
	switch p.cfg.Type {
	case PatchMerge:
		out, err = jsonpatch.MergePatch(orig, p.data)
	case PatchStrategic:
		obj, serr := scheme.Scheme.New(r.gvk)
		if serr != nil {
			return nil, nil, nil, steps.Permanentf("kubernetes.patch: a strategic merge patch needs a built-in kind, and %s is not one: use type: merge", r.gvk.Kind)
		}
		out, err = strategicpatch.StrategicMergePatch(orig, p.data, obj)
	case PatchJSON:
		out, send, err = applyJSONPatch(orig, p.data)
	}
	if err != nil {
		return nil, nil, nil, steps.Permanentf("kubernetes.patch: the patch does not apply to %s: %v", p.what(r), err)
	}
	if err := json.Unmarshal(orig, &before); err != nil {
		return nil, nil, nil, err
	}
	if err := json.Unmarshal(out, &after); err != nil {
		return nil, nil, nil, err
	}
	return before, after, send, nil
}

// applyJSONPatch applies operations one at a time, leaving out removes of
// paths already gone (done); it returns the document and the operations
// that remain to be sent.
func applyJSONPatch(doc, data []byte) ([]byte, []byte, error) {
	var ops []json.RawMessage
	if err := json.Unmarshal(data, &ops); err != nil {
		return nil, nil, err
	}
	var keep []json.RawMessage
	for _, raw := range ops {
		one, err := jsonpatch.DecodePatch([]byte("[" + string(raw) + "]"))
		if err != nil {
			return nil, nil, err
		}
		out, err := one.Apply(doc)
		if err != nil {
			if one[0].Kind() == "remove" && strings.Contains(err.Error(), "nonexistent") {
				continue
			}
			return nil, nil, err
		}
		doc = out
		keep = append(keep, raw)
	}
	send, err := json.Marshal(keep)
	return doc, send, err
}

// Apply sends the patch (field manager failoverbot) unless the live object
// already holds it.
func (p *Patch) Apply(ctx context.Context) error {
	r, live, err := p.live(ctx)
	if err != nil {
		return err
	}
	before, after, send, err := p.applyLocally(r, live)
	if err != nil {
		return err
	}
	if reflect.DeepEqual(before, after) {
		return nil
	}
	pt := map[string]types.PatchType{PatchMerge: types.MergePatchType, PatchStrategic: types.StrategicMergePatchType, PatchJSON: types.JSONPatchType}[p.cfg.Type]
	p.c.log.InfoContext(ctx, "patching", "connection", p.c.conn, "object", p.what(r), "type", p.cfg.Type)
	_, err = p.c.patch(ctx, r.gvr, p.cfg.Namespace, p.cfg.Name, pt, send, metav1.PatchOptions{})
	return err
}

// Close releases the step's connections.
func (p *Patch) Close() error {
	p.c.close()
	return nil
}

// differences lists the paths where after differs from before
// ("data.REGION: us-east-1 → us-west-2"), with values when showValues.
func differences(path string, before, after any, showValues bool) []string {
	if reflect.DeepEqual(before, after) {
		return nil
	}
	bm, okb := before.(map[string]any)
	am, oka := after.(map[string]any)
	if okb && oka {
		keys := map[string]bool{}
		for k := range bm {
			keys[k] = true
		}
		for k := range am {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, differences(p, bm[k], am[k], showValues)...)
		}
		return out
	}
	if path == "" {
		path = "(the object)"
	}
	if !showValues {
		return []string{path}
	}
	return []string{fmt.Sprintf("%s: %s → %s", path, short(before), short(after))}
}

// short is a value for a summary, at most 60 characters.
func short(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:57] + "…"
	}
	return s
}
