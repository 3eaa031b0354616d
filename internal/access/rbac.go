package access

import (
	"fmt"
	"io"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Cluster is the merged Kubernetes rules of the connections that name the
// same cluster (the same kubeconfig and context as written).
type Cluster struct {
	// Connections are the runbook connections of this cluster.
	Connections []string
	// Kubeconfig and Context are the connections' fields as written.
	Kubeconfig, Context string
	// Rules are merged: one per namespace, group, resource and object
	// names, with every verb any step needs; Namespace "" is cluster-wide.
	Rules []steps.KubeRule
	// Notes say where rules are wider than the runbooks' steps strictly
	// need, and why.
	Notes []string
	// Uncovered are the steps whose needs could not be derived.
	Uncovered []string
}

// Clusters groups the Kubernetes needs by cluster and merges them.
func Clusters(needs []StepNeed) []Cluster {
	type key struct{ kubeconfig, context string }
	var order []key
	byKey := map[key]*Cluster{}
	rulesOf := map[key][]steps.KubeRule{}
	notesOf := map[key]*notes{}
	for _, n := range needs {
		if n.Connection == nil || n.Connection.Type != "kubernetes" || (len(n.Perms.Kube) == 0 && n.Err == nil) {
			continue
		}
		k := key{n.Connection.Fields["kubeconfig"], n.Connection.Fields["context"]}
		c, ok := byKey[k]
		if !ok {
			c = &Cluster{Kubeconfig: k.kubeconfig, Context: k.context}
			byKey[k], notesOf[k] = c, &notes{}
			order = append(order, k)
		}
		if !slices.Contains(c.Connections, n.Connection.Name) {
			c.Connections = append(c.Connections, n.Connection.Name)
		}
		if n.Err != nil {
			notesOf[k].uncovered = append(notesOf[k].uncovered, fmt.Sprintf("%s (%s): %v: its permissions are NOT in this output", stepName(n), n.Kind, n.Err))
		}
		for _, r := range n.Perms.Kube {
			rulesOf[k] = append(rulesOf[k], r)
			notesOf[k].add(r.Note, stepName(n))
		}
	}
	out := make([]Cluster, 0, len(order))
	for _, k := range order {
		c := byKey[k]
		c.Rules = MergeRules(rulesOf[k])
		c.Notes = notesOf[k].lines()
		c.Uncovered = notesOf[k].uncovered
		out = append(out, *c)
	}
	return out
}

// MergeRules merges rules on the same namespace, group, resource and
// names into one with the union of their verbs (notes dropped), sorted.
func MergeRules(rules []steps.KubeRule) []steps.KubeRule {
	type key = struct{ ns, group, resource, names string }
	var order []key
	merged := map[key]*steps.KubeRule{}
	for _, r := range rules {
		names := unique(r.Names)
		k := key{r.Namespace, r.Group, r.Resource, strings.Join(names, ",")}
		m, ok := merged[k]
		if !ok {
			m = &steps.KubeRule{Group: r.Group, Resource: r.Resource, Namespace: r.Namespace, Names: names}
			merged[k] = m
			order = append(order, k)
		}
		m.Verbs = unique(append(m.Verbs, r.Verbs...))
	}
	slices.SortFunc(order, func(a, b key) int {
		return strings.Compare(a.ns+"\x00"+a.group+"\x00"+a.resource+"\x00"+a.names, b.ns+"\x00"+b.group+"\x00"+b.resource+"\x00"+b.names)
	})
	out := make([]steps.KubeRule, 0, len(order))
	for _, k := range order {
		if r := merged[k]; !subsumed(*r, merged) {
			out = append(out, *r)
		}
	}
	return out
}

// subsumed reports whether another merged rule on any object of the same
// resource, in the rule's namespace or cluster-wide, grants all of r's
// verbs.
func subsumed(r steps.KubeRule, merged map[struct{ ns, group, resource, names string }]*steps.KubeRule) bool {
	for k, o := range merged {
		if o == nil || k.names != "" || k.group != r.Group || k.resource != r.Resource || (k.ns != r.Namespace && k.ns != "") {
			continue
		}
		if k.ns == r.Namespace && len(r.Names) == 0 {
			continue // r itself
		}
		if !slices.ContainsFunc(r.Verbs, func(v string) bool { return !slices.Contains(o.Verbs, v) }) {
			return true
		}
	}
	return false
}

// Subject is the service account the generated roles are bound to.
type Subject struct {
	// Name of the roles and bindings, and of the service account.
	Name string
	// ServiceAccount and Namespace name the bot's service account.
	ServiceAccount, Namespace string
}

// Objects are the RBAC objects of a cluster's rules: a Role and
// RoleBinding per namespace, a ClusterRole and ClusterRoleBinding for the
// cluster-wide rules.
func (c Cluster) Objects(sub Subject) []any {
	byNS := map[string][]rbacv1.PolicyRule{}
	var namespaces []string
	for _, r := range c.Rules {
		if _, ok := byNS[r.Namespace]; !ok {
			namespaces = append(namespaces, r.Namespace)
		}
		byNS[r.Namespace] = append(byNS[r.Namespace], rbacv1.PolicyRule{
			APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: slices.Clone(r.Verbs), ResourceNames: slices.Clone(r.Names)})
	}
	slices.Sort(namespaces)
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sub.ServiceAccount, Namespace: sub.Namespace}}
	labels := map[string]string{"app.kubernetes.io/name": "failover-bot", "app.kubernetes.io/component": "rbac"}
	var out []any
	for _, ns := range namespaces {
		meta := metav1.ObjectMeta{Name: sub.Name, Namespace: ns, Labels: labels}
		if ns == "" {
			out = append(out,
				&rbacv1.ClusterRole{TypeMeta: typeMeta("ClusterRole"), ObjectMeta: meta, Rules: byNS[ns]},
				&rbacv1.ClusterRoleBinding{TypeMeta: typeMeta("ClusterRoleBinding"), ObjectMeta: meta, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: sub.Name}})
			continue
		}
		out = append(out,
			&rbacv1.Role{TypeMeta: typeMeta("Role"), ObjectMeta: meta, Rules: byNS[ns]},
			&rbacv1.RoleBinding{TypeMeta: typeMeta("RoleBinding"), ObjectMeta: meta, Subjects: subject,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: sub.Name}})
	}
	return out
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: kind}
}

// WriteYAML writes the cluster's objects as YAML documents ready for
// kubectl apply, headed by comments naming the connections and the notes.
func (c Cluster) WriteYAML(w io.Writer, sub Subject) error {
	where := c.Context
	if where == "" {
		where = "(the kubeconfig's current context)"
	}
	fmt.Fprintf(w, "# Kubernetes RBAC of the failover bot for connections %s (context %s).\n", strings.Join(c.Connections, ", "), where)
	fmt.Fprintln(w, "# Generated by `bot rbac` from the runbooks' steps: regenerate it when they change.")
	for _, u := range c.Uncovered {
		fmt.Fprintf(w, "# NOT COVERED: %s\n", u)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(w, "# Note: %s\n", n)
	}
	for _, o := range c.Objects(sub) {
		b, err := yaml.Marshal(o)
		if err != nil {
			return fmt.Errorf("render RBAC: %w", err)
		}
		fmt.Fprintf(w, "---\n%s", dropCreationTimestamp(b))
	}
	return nil
}

// dropCreationTimestamp removes the "creationTimestamp: null" metav1 adds.
func dropCreationTimestamp(b []byte) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) != "creationTimestamp: null" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
