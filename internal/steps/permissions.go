package steps

import (
	"maps"
	"slices"
	"strings"
)

// Any is the wildcard of a permission: every namespace, every resource name,
// every ARN. A need widened to Any says why in its Note.
const Any = "*"

// KubeRule is one Kubernetes RBAC permission a step needs: verbs on a
// resource of an API group, in a namespace or cluster-wide, optionally only
// on named objects.
type KubeRule struct {
	// Group is the API group ("" for the core group, "apps", "batch").
	Group string
	// Resource is the plural resource, with a subresource after a slash
	// ("deployments", "pods/exec").
	Resource string
	// Verbs are the RBAC verbs (get, list, watch, patch, create).
	Verbs []string
	// Namespace is where the rule applies; "" is cluster-wide: a
	// cluster-scoped resource (nodes), every namespace (events of all
	// namespaces), or a namespace not known before the run (a template).
	Namespace string
	// Names, if set, are the only objects the rule needs (RBAC
	// resourceNames); nil means any object.
	Names []string
	// Note says why the rule is wider than it could be ("namespace is
	// templated"), or "" when it is exact.
	Note string
}

// IAMNeed is one set of AWS IAM actions a step needs on a set of resources.
type IAMNeed struct {
	// Actions are IAM actions ("rds:PromoteReadReplica").
	Actions []string
	// Resources are ARNs (with * where a part is not known) or Any.
	Resources []string
	// Note says why a resource is wider than it could be, or "".
	Note string
}

// Permissions is what one step needs on its connection.
type Permissions struct {
	Kube []KubeRule
	IAM  []IAMNeed
}

// PermissionTarget is what a kind's Permissions gets besides its config:
// the step's connection as written in the runbook (the overlay applied,
// templates and ${…} references unexpanded: a field holding one is not
// known before the run), and the runbook's directory for files its config
// names.
type PermissionTarget struct {
	// Conn is the step's connection; its Region field is the cloud region
	// of the connection's runbook region unless the connection sets one.
	Conn *Connection
	// Dir is the runbook's directory.
	Dir string
}

// Field is a connection field's value when it is known before the run
// ("" when unset or templated).
func (t PermissionTarget) Field(name string) string {
	if t.Conn == nil {
		return ""
	}
	v := t.Conn.Fields[name]
	if IsTemplate(v) {
		return ""
	}
	return v
}

// Permissioned is implemented by the config of every kind that talks to a
// system with permissions (Kubernetes, AWS): it declares, next to the
// kind's code, what the kind's Check and Apply call with this config.
// `bot rbac` and `bot iam-policy` derive the bot's least privilege from
// it, and assess checks it. A value Permissions cannot know before the run
// (a templated namespace, a zone looked up by name) widens the need to Any
// and says so in the need's Note.
type Permissioned interface {
	Permissions(t PermissionTarget) (Permissions, error)
}

// Known returns v when it is known before the run, else Any: a templated
// value (IsTemplate) or an empty one.
func Known(v string) string {
	if v == "" || IsTemplate(v) {
		return Any
	}
	return v
}

// Templated lists the names of the fields whose values are templated, for
// notes: "namespace, name".
func Templated(fields map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if IsTemplate(fields[k]) {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}
