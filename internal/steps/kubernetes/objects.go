package kubernetes

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Well-known resources the kinds use without discovery.
var (
	gvrDeployments  = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrStatefulSets = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	gvrPods         = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrNodes        = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	gvrServices     = schema.GroupVersionResource{Version: "v1", Resource: "services"}
)

// fetch observes a selection directly: a GET by name (a missing object is
// a permanent error), else a LIST; each one request under the request
// timeout.
func (c *cluster) fetch(ctx context.Context, sel selection) ([]*unstructured.Unstructured, error) {
	dyn, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	ri := dyn.Resource(sel.gvr).Namespace(sel.namespace)
	cctx, cancel := c.call(ctx)
	defer cancel()
	op := call{resource: sel.gvr.GroupResource().String(), namespace: sel.namespace, name: sel.name}
	if sel.name != "" && sel.selector == "" {
		op.verb = "get"
		u, err := ri.Get(cctx, sel.name, metav1.GetOptions{})
		if err != nil {
			return nil, c.wrap(cctx, err, op)
		}
		return []*unstructured.Unstructured{u}, nil
	}
	return c.list(cctx, sel)
}

// fetchList observes a selection with one LIST, also by name (a field
// selector): a missing object is an empty list.
func (c *cluster) fetchList(ctx context.Context, sel selection) ([]*unstructured.Unstructured, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	return c.list(cctx, sel)
}

func (c *cluster) list(cctx context.Context, sel selection) ([]*unstructured.Unstructured, error) {
	dyn, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	o := metav1.ListOptions{}
	sel.options(&o)
	l, err := dyn.Resource(sel.gvr).Namespace(sel.namespace).List(cctx, o)
	if err != nil {
		return nil, c.wrap(cctx, err, call{verb: "list", resource: sel.gvr.GroupResource().String(), namespace: sel.namespace})
	}
	out := make([]*unstructured.Unstructured, len(l.Items))
	for i := range l.Items {
		out[i] = &l.Items[i]
	}
	sortObjects(out)
	return out, nil
}

// patch sends a patch of type pt to one object.
func (c *cluster) patch(ctx context.Context, gvr schema.GroupVersionResource, namespace, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (*unstructured.Unstructured, error) {
	dyn, err := c.dynamic()
	if err != nil {
		return nil, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	if opts.FieldManager == "" {
		opts.FieldManager = FieldManager
	}
	u, err := dyn.Resource(gvr).Namespace(namespace).Patch(cctx, name, pt, data, opts)
	if err != nil {
		return nil, c.wrap(cctx, err, call{verb: "patch", resource: gvr.GroupResource().String(), namespace: namespace, name: name})
	}
	return u, nil
}

// FieldManager is the field manager of every change the bot makes
// (server-side apply, patches): `kubectl get -o yaml --show-managed-fields`
// tells them apart.
const FieldManager = "failoverbot"

// typed converts an unstructured object into its Go type.
func typed[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("decode %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out, nil
}

// ref is namespace/name, or name for cluster-scoped objects.
func ref(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetName()
	}
	return u.GetNamespace() + "/" + u.GetName()
}
