package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// rbacObject is the part of a printed RBAC object the tests read.
type rbacObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Rules []struct {
		APIGroups     []string `yaml:"apiGroups"`
		Resources     []string `yaml:"resources"`
		ResourceNames []string `yaml:"resourceNames"`
		Verbs         []string `yaml:"verbs"`
	} `yaml:"rules"`
	Subjects []struct {
		Kind, Name, Namespace string
	} `yaml:"subjects"`
}

// `bot rbac` on a shipped seed prints applicable YAML: a Role per
// namespace the steps touch, bound to the service account given, whose
// rules name the seed's own workloads and verbs; what it cannot derive
// is said, never silently left out.
func TestBotRBACPrintsTheSeedsRoles(t *testing.T) {
	code, out, errs := runBot(t, "rbac", "--connection", "dr_cluster", "--service-account", "ops/bot",
		"../../runbooks/mimir-region-failover.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "# NOT COVERED: mimir-region-failover/restore_from_backup") {
		t.Errorf("the step whose manifest is missing is not reported:\n%s", out)
	}
	dec := yaml.NewDecoder(strings.NewReader(out))
	byKey := map[string]rbacObject{}
	for {
		var o rbacObject
		if err := dec.Decode(&o); err != nil {
			break
		}
		byKey[o.Kind+"/"+o.Metadata.Namespace] = o
		for _, s := range o.Subjects {
			if s.Kind != "ServiceAccount" || s.Name != "bot" || s.Namespace != "ops" {
				t.Errorf("%s %s binds %+v, want the service account ops/bot", o.Kind, o.Metadata.Namespace, s)
			}
		}
	}
	for _, k := range []string{"ClusterRole/", "ClusterRoleBinding/", "Role/mimir", "RoleBinding/mimir", "Role/kube-system"} {
		if _, ok := byKey[k]; !ok {
			t.Errorf("no %s in the output (have %v)", k, keys(byKey))
		}
	}
	patches := func(role rbacObject, resource, name string) bool {
		for _, r := range role.Rules {
			if slices.Contains(r.Resources, resource) && slices.Contains(r.ResourceNames, name) && slices.Contains(r.Verbs, "patch") {
				return true
			}
		}
		return false
	}
	for _, d := range []string{"mimir-api", "mimir-worker", "mimir-analytics", "mimir-web"} {
		if !patches(byKey["Role/mimir"], "deployments", d) {
			t.Errorf("the mimir Role does not let the bot patch (scale) deployments/%s", d)
		}
	}
	if !patches(byKey["Role/kube-system"], "deployments", "cluster-autoscaler") {
		t.Error("the kube-system Role does not let the bot scale the cluster autoscaler")
	}
	if patches(byKey["Role/kube-system"], "deployments", "mimir-api") {
		t.Error("the kube-system Role names a mimir deployment")
	}

	code, _, errs = runBot(t, "rbac", "../../runbooks/mimir-region-failover.yaml")
	if code == 0 || !strings.Contains(errs, "--connection NAME") || !strings.Contains(errs, "primary_cluster") {
		t.Errorf("two clusters in one output: exit %d, %s", code, errs)
	}
	code, _, errs = runBot(t, "rbac", "no-such-runbook.yaml")
	if code == 0 || !strings.Contains(errs, "no-such-runbook.yaml: no such file") {
		t.Errorf("a missing runbook: exit %d, %s", code, errs)
	}
}

// `bot iam-policy` on a shipped seed prints a policy document whose
// write actions are limited to the resources the seed names.
func TestBotIAMPolicyPrintsTheSeedsPolicy(t *testing.T) {
	code, out, errs := runBot(t, "iam-policy", "../../runbooks/maip-region-failover.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &doc); err != nil {
		t.Fatalf("not a policy document: %v\n%s", err, out)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Fatalf("policy: %+v", doc)
	}
	var promote []string
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("statement %+v is not an Allow", s)
		}
		if slices.Contains(s.Action, "rds:PromoteReadReplica") {
			promote = append(promote, s.Resource...)
		}
		if slices.Contains(s.Action, "*") || slices.ContainsFunc(s.Action, func(a string) bool { return strings.HasSuffix(a, ":*") }) {
			t.Errorf("a wildcard action: %v", s.Action)
		}
	}
	if want := []string{"arn:aws:rds:us-west-2:*:db:maip-prod-postgres-replica"}; !slices.Equal(promote, want) {
		t.Errorf("rds:PromoteReadReplica on %v, want %v", promote, want)
	}
	if !strings.Contains(errs+out, "Note:") {
		t.Errorf("what was widened to any resource is not said:\n%s", errs)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
