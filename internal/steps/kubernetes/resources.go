package kubernetes

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// apiResource is a resource as RBAC names it, found without a cluster.
type apiResource struct {
	group, resource string
	// known is false for a resource client-go does not know (a custom
	// resource), taken as written.
	known bool
}

// shortNames are kubectl's short names of the built-in resources (the
// API server's discovery lists them; TestOfflineResourcesMatchDiscovery
// compares every one with the lab's API server).
var shortNames = map[string]string{
	"cm": "configmaps", "cs": "componentstatuses", "ep": "endpoints", "ev": "events", "limits": "limitranges",
	"ns": "namespaces", "no": "nodes", "pvc": "persistentvolumeclaims", "pv": "persistentvolumes", "po": "pods",
	"rc": "replicationcontrollers", "quota": "resourcequotas", "sa": "serviceaccounts", "svc": "services",
	"ds": "daemonsets.apps", "deploy": "deployments.apps", "rs": "replicasets.apps", "sts": "statefulsets.apps",
	"hpa": "horizontalpodautoscalers.autoscaling", "cj": "cronjobs.batch", "csr": "certificatesigningrequests.certificates.k8s.io",
	"ing": "ingresses.networking.k8s.io", "netpol": "networkpolicies.networking.k8s.io", "pdb": "poddisruptionbudgets.policy",
	"pc": "priorityclasses.scheduling.k8s.io", "sc": "storageclasses.storage.k8s.io",
	"vac": "volumeattributesclasses.storage.k8s.io", "ip": "ipaddresses.networking.k8s.io",
	"crd": "customresourcedefinitions.apiextensions.k8s.io", "crds": "customresourcedefinitions.apiextensions.k8s.io",
}

// outsideScheme are the API server's own resources client-go's scheme
// does not hold: plural and singular names.
var outsideScheme = map[string]apiResource{
	"customresourcedefinitions": {group: "apiextensions.k8s.io", resource: "customresourcedefinitions", known: true},
	"customresourcedefinition":  {group: "apiextensions.k8s.io", resource: "customresourcedefinitions", known: true},
	"apiservices":               {group: "apiregistration.k8s.io", resource: "apiservices", known: true},
	"apiservice":                {group: "apiregistration.k8s.io", resource: "apiservices", known: true},
}

// builtin maps kinds, singular and plural names (lower case) to the
// resources of client-go's scheme: group → resource, core group first.
var builtin = sync.OnceValue(func() map[string][]apiResource {
	m := map[string][]apiResource{}
	type key struct{ name, group string }
	seen := map[key]bool{}
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == "__internal" || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
			continue
		}
		plural, singular := meta.UnsafeGuessKindToResource(gvk)
		r := apiResource{group: gvk.Group, resource: plural.Resource, known: true}
		for _, n := range []string{plural.Resource, singular.Resource} {
			if k := (key{n, r.group}); !seen[k] {
				seen[k] = true
				m[n] = append(m[n], r)
			}
		}
	}
	for n, r := range outsideScheme {
		m[n] = append(m[n], r)
	}
	for n := range m {
		sort.Slice(m[n], func(i, j int) bool { return groupRank(m[n][i].group) < groupRank(m[n][j].group) })
	}
	return m
})

// groupRank orders groups as kubectl prefers them for the built-in
// ones: the core group, then the rest by name, the deprecated extensions
// group (ingresses, networkpolicies moved out of it) last.
func groupRank(g string) string {
	switch g {
	case "":
		return "0"
	case "extensions":
		return "2"
	}
	return "1" + g
}

// resourceFor maps a kubectl-style resource ("svc", "configmap",
// "deployments.apps", "cronjobs.batch") to its group and plural resource
// as kubectl would against a cluster serving the built-in APIs. A resource
// client-go does not know (a custom resource) is taken as written:
// "widgets.example.com" is widgets of group example.com.
func resourceFor(name string) apiResource {
	name = strings.ToLower(name)
	if full, ok := shortNames[name]; ok {
		name = full
	}
	res, group, grouped := strings.Cut(name, ".")
	for _, r := range builtin()[res] {
		if !grouped || r.group == group || strings.HasPrefix(r.group, group+".") {
			return r
		}
	}
	return apiResource{group: group, resource: res}
}

// kindResource maps a manifest's apiVersion and kind to its resource.
func kindResource(apiVersion, kind string) (apiResource, error) {
	group := ""
	if g, _, ok := strings.Cut(apiVersion, "/"); ok {
		group = g
	}
	for _, r := range builtin()[strings.ToLower(kind)] {
		if r.group == group {
			return r, nil
		}
	}
	if group == "" {
		return apiResource{}, fmt.Errorf("kind %s of apiVersion %s is not a built-in resource", kind, apiVersion)
	}
	plural, _ := meta.UnsafeGuessKindToResource(schema.FromAPIVersionAndKind(apiVersion, kind))
	return apiResource{group: group, resource: plural.Resource}, nil
}
