package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Apply is a kubernetes.apply step: server-side apply of manifests.
type Apply struct {
	cfg  ApplyConfig
	c    *cluster
	objs []*unstructured.Unstructured // as written, namespace filled

	mu    sync.Mutex
	res   map[int]resource // by index in objs, found by discovery
	waits map[int]*waiter  // the objects whose status the step waits for
}

var (
	_ steps.Step   = (*Apply)(nil)
	_ steps.Closer = (*Apply)(nil)
)

func newApply(_ context.Context, cfg *ApplyConfig, env steps.Env) (steps.Step, error) {
	manifest := cfg.Manifest
	if cfg.File != "" {
		path := cfg.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(env.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, steps.Permanentf("kubernetes.apply: read the manifest file: %v", err)
		}
		manifest = string(b)
	}
	objs, err := decodeManifests(manifest)
	if err != nil {
		return nil, steps.Permanentf("kubernetes.apply: %v", err)
	}
	c, err := newCluster("kubernetes.apply", env, cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &Apply{cfg: *cfg, c: c, objs: objs, res: map[int]resource{}, waits: map[int]*waiter{}}, nil
}

// decodeManifests reads YAML (or JSON) documents into objects, skipping
// empty ones.
func decodeManifests(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("manifest document %d: apiVersion, kind and metadata.name are required", i)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("the manifest holds no object")
	}
	return out, nil
}

// resources maps every object's kind through discovery (once) and fills
// the step's namespace into namespaced objects that name none.
func (a *Apply) resources(ctx context.Context) (map[int]resource, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.res) == len(a.objs) {
		return a.res, nil
	}
	m, err := a.c.restMapper()
	if err != nil {
		return nil, err
	}
	for i, u := range a.objs {
		gvk := u.GroupVersionKind()
		mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, a.c.wrap(ctx, err, call{verb: "discover", resource: gvk.Kind})
		}
		r := resource{gvr: mapping.Resource, gvk: gvk, namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace}
		if r.namespaced && u.GetNamespace() == "" {
			if a.cfg.Namespace == "" {
				return nil, steps.Permanentf("kubernetes.apply: %s %s names no namespace, and the step gives none", gvk.Kind, u.GetName())
			}
			u.SetNamespace(a.cfg.Namespace)
		}
		if !r.namespaced && u.GetNamespace() != "" {
			return nil, steps.Permanentf("kubernetes.apply: %s %s is cluster-scoped: it takes no namespace", gvk.Kind, u.GetName())
		}
		a.res[i] = r
		if w := waitable(gvk.Kind); a.cfg.Wait && w {
			a.waits[i] = &waiter{}
		}
	}
	return a.res, nil
}

// waitable says whether the step waits for objects of kind (with wait).
func waitable(kind string) bool {
	return kind == "Job" || kind == "Deployment" || kind == "StatefulSet"
}

func name(r resource, u *unstructured.Unstructured) string {
	return strings.ToLower(r.gvk.Kind) + " " + ref(u)
}

// Check is done when a server-side apply of every object (a dry run)
// would change nothing and, with wait, when every Job has completed and
// every Deployment and StatefulSet has rolled out. After Apply the waits
// follow watches of those objects. A Job that failed is a permanent error.
func (a *Apply) Check(ctx context.Context) (steps.Result, error) {
	res, err := a.resources(ctx)
	if err != nil {
		return steps.Result{}, err
	}
	var lines []string
	done := true
	for i, u := range a.objs {
		r := res[i]
		wt := a.waits[i]
		sel := selection{gvr: r.gvr, namespace: u.GetNamespace(), name: u.GetName()}
		if wt != nil {
			// After Apply, only the status is awaited, on a watch.
			if w, err := wt.cache(a.c, sel); err != nil {
				return steps.Result{}, err
			} else if w != nil {
				out, err := w.await(ctx, func(objs []*unstructured.Unstructured) (steps.Result, error) { return a.finished(r, objs) })
				if err != nil {
					return steps.Result{}, err
				}
				done = done && out.Done
				lines = append(lines, out.Summary)
				continue
			}
		}
		state, err := a.applied(ctx, r, u)
		if err != nil {
			return steps.Result{}, err
		}
		if state != "" {
			done = false
			lines = append(lines, name(r, u)+": "+state)
			continue
		}
		if wt == nil {
			lines = append(lines, name(r, u)+": applied")
			continue
		}
		objs, err := a.c.fetch(ctx, sel)
		if err != nil {
			return steps.Result{}, err
		}
		out, err := a.finished(r, objs)
		if err != nil {
			return steps.Result{}, err
		}
		done = done && out.Done
		lines = append(lines, out.Summary)
	}
	summary := fmt.Sprintf("%d objects applied", len(a.objs))
	if !done {
		summary = fmt.Sprintf("%d objects to apply or wait for", len(a.objs))
	}
	if len(lines) == 1 {
		return steps.Result{Done: done, Summary: lines[0]}, nil
	}
	return steps.Result{Done: done, Summary: summary + "\n" + strings.Join(lines, "\n")}, nil
}

// applied says what a server-side apply of u would change ("" for
// nothing): "to create", or "fields differ".
func (a *Apply) applied(ctx context.Context, r resource, u *unstructured.Unstructured) (string, error) {
	live, err := a.c.fetchList(ctx, selection{gvr: r.gvr, namespace: u.GetNamespace(), name: u.GetName()})
	if err != nil {
		return "", err
	}
	if len(live) == 0 {
		return "to create", nil
	}
	dry, err := a.serverApply(ctx, r, u, true)
	if err != nil {
		return "", err
	}
	before, after := comparable(live[0]), comparable(dry)
	if reflect.DeepEqual(before, after) {
		return "", nil
	}
	diffs := differences("", before, after, r.gvk.Kind != "Secret")
	return "to update: " + list(diffs, 3), nil
}

// comparable is an object without what every write changes.
func comparable(u *unstructured.Unstructured) any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "generation")
	b, _ := json.Marshal(c.Object)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// finished says whether a Job completed or a workload rolled out.
func (a *Apply) finished(r resource, objs []*unstructured.Unstructured) (steps.Result, error) {
	if len(objs) == 0 {
		return steps.Result{}, steps.Permanentf("kubernetes.apply: %s was deleted while the step waited", r)
	}
	u := objs[0]
	if r.gvk.Kind != "Job" {
		ro, err := rolloutOf(u)
		if err != nil {
			return steps.Result{}, fmt.Errorf("kubernetes.apply: %w", err)
		}
		return steps.Result{Done: ro.done, Summary: name(r, u) + ": " + ro.state}, nil
	}
	job, err := typed[batchv1.Job](u)
	if err != nil {
		return steps.Result{}, err
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return steps.Result{Done: true, Summary: fmt.Sprintf("%s: complete (%d succeeded)", name(r, u), job.Status.Succeeded)}, nil
		case batchv1.JobFailed:
			return steps.Result{}, steps.Permanentf("kubernetes.apply: %s failed: %s: %s", name(r, u), c.Reason, c.Message)
		}
	}
	return steps.Result{Summary: fmt.Sprintf("%s: running (%d active, %d succeeded, %d failed)",
		name(r, u), job.Status.Active, job.Status.Succeeded, job.Status.Failed)}, nil
}

// serverApply sends u as a server-side apply (field manager failoverbot,
// forcing conflicts with other managers, as `kubectl apply
// --server-side --force-conflicts`), or its dry run.
func (a *Apply) serverApply(ctx context.Context, r resource, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: ptrTo(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return a.c.patch(ctx, r.gvr, u.GetNamespace(), u.GetName(), types.ApplyPatchType, bytes.TrimSpace(data), opts)
}

func ptrTo[T any](v T) *T { return &v }

// Apply server-side applies every object; applying an unchanged object
// changes nothing, so a second Apply is a no-op.
func (a *Apply) Apply(ctx context.Context) error {
	res, err := a.resources(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i, u := range a.objs {
		a.c.log.InfoContext(ctx, "applying", "connection", a.c.conn, "object", name(res[i], u))
		if _, err := a.serverApply(ctx, res[i], u, false); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		for _, w := range a.waits {
			w.arm()
		}
	}
	return errors.Join(errs...)
}

// Close stops the step's watches and releases its connections.
func (a *Apply) Close() error {
	a.mu.Lock()
	ws := a.waits
	a.mu.Unlock()
	for _, w := range ws {
		w.close()
	}
	a.c.close()
	return nil
}
