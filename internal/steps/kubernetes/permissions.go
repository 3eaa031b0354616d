package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// This file declares what each kind's Check and Apply ask the API server
// for, next to the code that asks: a GET by name or a LIST (fetch), a
// LIST and WATCH while a step waits (watch.go), PATCH (objects.go). A LIST
// or WATCH by name uses a metadata.name field selector, which RBAC's
// resourceNames allow. Discovery (/api, /apis) and the identity review of
// errors.go are granted to every authenticated user by the API server's
// default roles (system:discovery, system:basic-user).

var (
	_ steps.Permissioned = (*NodesReadyConfig)(nil)
	_ steps.Permissioned = (*PodsReadyConfig)(nil)
	_ steps.Permissioned = (*ScaleConfig)(nil)
	_ steps.Permissioned = (*PatchConfig)(nil)
	_ steps.Permissioned = (*RolloutRestartConfig)(nil)
	_ steps.Permissioned = (*ResourcesPresentConfig)(nil)
	_ steps.Permissioned = (*ServiceAddressConfig)(nil)
	_ steps.Permissioned = (*ExecConfig)(nil)
	_ steps.Permissioned = (*ExecCheckConfig)(nil)
	_ steps.Permissioned = (*ApplyConfig)(nil)
	_ steps.Permissioned = (*EventsConfig)(nil)
	_ steps.Permissioned = (*LogsConfig)(nil)
	_ steps.Permissioned = (*PodMetricsConfig)(nil)
)

// Verbs of the requests the kinds make.
var (
	verbsObserve = []string{"get", "list", "watch"} // fetch, then a watch while waiting
	verbsList    = []string{"list", "watch"}
)

// rule builds a rule in namespace ns (templated: cluster-wide, with a
// note) on the named objects (a templated or empty name: any object).
func rule(group, res, ns string, verbs []string, names ...string) steps.KubeRule {
	r := steps.KubeRule{Group: group, Resource: res, Verbs: verbs, Namespace: ns}
	if steps.IsTemplate(ns) {
		r.Namespace = ""
		r.Note = "namespace is templated: granted in every namespace"
	}
	for _, n := range names {
		if n == "" {
			r.Names = nil
			break
		}
		if steps.IsTemplate(n) {
			r.Names = nil
			r.Note = join(r.Note, "name is templated: any object")
			break
		}
		r.Names = append(r.Names, n)
	}
	return r
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func kubeNeeds(rules ...steps.KubeRule) (steps.Permissions, error) {
	return steps.Permissions{Kube: rules}, nil
}

// Permissions: nodes are read (a LIST; watched while waiting).
func (c *NodesReadyConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(rule("", "nodes", "", verbsList))
}

// Permissions: the namespace's pods are listed and watched.
func (c *PodsReadyConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(rule("", "pods", c.Namespace, verbsList))
}

func workloadResource(w string) string {
	if w == WorkloadStatefulSet {
		return "statefulsets"
	}
	return "deployments"
}

// workloadRules are scale's and rolloutRestart's: the workloads are
// fetched (by name: a GET), watched while waiting and patched.
func workloadRules(workload, ns, name string) []steps.KubeRule {
	verbs := []string{"get", "list", "watch", "patch"}
	if name == "" {
		verbs = []string{"list", "watch", "patch"}
	}
	return []steps.KubeRule{rule("apps", workloadResource(workload), ns, verbs, name)}
}

// Permissions: the workloads are read, watched and patched (spec.replicas).
func (c *ScaleConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(workloadRules(c.Workload, c.Namespace, c.Name)...)
}

// Permissions: the workloads are read, watched and patched (the pod
// template's restartedAt annotation).
func (c *RolloutRestartConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(workloadRules(c.Workload, c.Namespace, c.Name)...)
}

// resourceRule is a rule on a kubectl-style resource of the config.
func resourceRule(resource, ns string, verbs []string, names ...string) steps.KubeRule {
	if steps.IsTemplate(resource) {
		r := rule("*", "*", ns, verbs)
		r.Note = join(r.Note, "resource is templated: every resource")
		return r
	}
	ar := resourceFor(resource)
	r := rule(ar.group, ar.resource, ns, verbs, names...)
	if !ar.known {
		r.Note = join(r.Note, fmt.Sprintf("%s is not a built-in resource: taken as %s of group %q", resource, ar.resource, ar.group))
	}
	return r
}

// Permissions: the object is read by name and patched.
func (c *PatchConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(resourceRule(c.Resource, c.Namespace, []string{"get", "patch"}, c.Name))
}

// Permissions: the objects are listed (by name with one name) and watched.
func (c *ResourcesPresentConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	var names []string
	if len(c.Names) == 1 && c.Selector == "" {
		names = c.Names
	}
	return kubeNeeds(resourceRule(c.Resource, c.Namespace, verbsList, names...))
}

// Permissions: the Service is read by name and watched.
func (c *ServiceAddressConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(rule("", "services", c.Namespace, verbsObserve, c.Name))
}

// podRules are the rules of a command or a log read in the target's pod:
// the pod is read (by name: a GET; by selector: a LIST), then sub is used
// with verbs.
func (t *PodTarget) podRules(sub string, verbs ...string) []steps.KubeRule {
	read := []string{"get"}
	if t.Pod == "" {
		read = []string{"list"}
	}
	return []steps.KubeRule{
		rule("", "pods", t.Namespace, read, t.Pod),
		rule("", "pods/"+sub, t.Namespace, verbs, t.Pod),
	}
}

// Permissions: the pod is read and commands run in it (exec over
// WebSockets is a GET upgraded, and the API server asks for create too).
func (c *ExecConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(c.PodTarget.podRules("exec", "get", "create")...)
}

// Permissions: as kubernetes.exec.
func (c *ExecCheckConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(c.PodTarget.podRules("exec", "get", "create")...)
}

// Permissions: the pods are read and their logs read.
func (c *LogsConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(c.PodTarget.podRules("log", "get")...)
}

// Permissions: events are listed, in the namespace or in all of them.
func (c *EventsConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	r := rule("", "events", c.Namespace, []string{"list"})
	if c.Namespace == "" {
		r.Note = "no namespace: events of every namespace"
	}
	return kubeNeeds(r)
}

// Permissions: the metrics API's pods are listed.
func (c *PodMetricsConfig) Permissions(steps.PermissionTarget) (steps.Permissions, error) {
	return kubeNeeds(rule("metrics.k8s.io", "pods", c.Namespace, []string{"list"}))
}

// Permissions: each object of the manifest is listed by name, applied
// (PATCH, dry run first; the API server asks for create when the object
// is new), and fetched and watched while waiting. The manifest is read
// from the runbook's directory, as at build time.
func (c *ApplyConfig) Permissions(t steps.PermissionTarget) (steps.Permissions, error) {
	manifest := c.Manifest
	if c.File != "" {
		if steps.IsTemplate(c.File) {
			return kubeNeeds(steps.KubeRule{Group: "*", Resource: "*", Verbs: []string{"get", "list", "watch", "create", "patch"},
				Note: "manifest file is templated: every resource in every namespace"})
		}
		path := c.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(t.Dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return steps.Permissions{}, fmt.Errorf("kubernetes.apply: read the manifest file: %w", err)
		}
		manifest = string(b)
	}
	if steps.IsTemplate(manifest) {
		return kubeNeeds(steps.KubeRule{Group: "*", Resource: "*", Verbs: []string{"get", "list", "watch", "create", "patch"},
			Note: "manifest is templated: every resource in every namespace"})
	}
	objs, err := decodeManifests(manifest)
	if err != nil {
		return steps.Permissions{}, fmt.Errorf("kubernetes.apply: %w", err)
	}
	var out steps.Permissions
	for _, u := range objs {
		r, err := kindResource(u.GetAPIVersion(), u.GetKind())
		if err != nil {
			return steps.Permissions{}, fmt.Errorf("kubernetes.apply: %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		ns := u.GetNamespace()
		if ns == "" && !clusterScoped(r) {
			ns = c.Namespace
		}
		verbs := []string{"list", "create", "patch"}
		if c.Wait && waitable(u.GetKind()) {
			verbs = []string{"get", "list", "watch", "create", "patch"}
		}
		rl := rule(r.group, r.resource, ns, verbs, u.GetName())
		if !r.known {
			rl.Note = join(rl.Note, fmt.Sprintf("%s is not a built-in kind: taken as %s of group %q", u.GetKind(), r.resource, r.group))
		}
		out.Kube = append(out.Kube, rl)
	}
	return out, nil
}

// clusterScoped lists the built-in cluster-scoped resources a manifest may
// hold (a namespace given to them is an error at run time anyway).
func clusterScoped(r apiResource) bool {
	switch r.group + "/" + r.resource {
	case "/namespaces", "/nodes", "/persistentvolumes", "rbac.authorization.k8s.io/clusterroles",
		"rbac.authorization.k8s.io/clusterrolebindings", "storage.k8s.io/storageclasses",
		"apiextensions.k8s.io/customresourcedefinitions", "scheduling.k8s.io/priorityclasses":
		return true
	}
	return false
}
