package kubernetes

import (
	"slices"
	"testing"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

// validateCase decodes with (strictly, as the loader does) into the kind's
// config and expects exactly the field errors in want (nil: valid).
type validateCase struct {
	name string
	kind string
	with string
	want []string
}

func runValidate(t *testing.T, kinds []steps.Kind, tests []validateCase) {
	t.Helper()
	byName := map[string]steps.Kind{}
	for _, k := range kinds {
		byName[k.Name()] = k
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := byName[tt.kind]
			if !ok {
				t.Fatalf("no kind %s", tt.kind)
			}
			got := stepstest.Validate(t, k, tt.with)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Validate:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestValidateNodesAndPods(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "nodes ready with defaults", kind: "kubernetes.nodesReady", with: "{}"},
		{name: "a cluster that must be gone", kind: "kubernetes.nodesReady", with: "{expect: down, requestTimeout: 5s}"},
		{name: "nodes: everything wrong", kind: "kubernetes.nodesReady",
			with: "{selector: 'a=b,,c', minReady: 0, expect: sideways, requestTimeout: soon}",
			want: []string{
				`selector: is not a label selector (like app=web,tier in (a,b)), got "a=b,,c"`,
				"minReady: must be ≥ 1, got 0",
				`expect: must be one of up, down, got "sideways"`,
				`requestTimeout: is not a duration (like 10s, 2m), got "soon"`,
			}},
		{name: "allReady makes no sense when expecting the cluster gone", kind: "kubernetes.nodesReady",
			with: "{expect: down, allReady: true}", want: []string{"allReady: only applies with expect: up"}},
		{name: "pods with a set-based selector", kind: "kubernetes.podsReady",
			with: "{namespace: mimir, selector: 'app.kubernetes.io/part-of=mimir,tier in (api,web)', maxRestarts: 0}"},
		{name: "pods need a namespace", kind: "kubernetes.podsReady", with: "{selector: app=x}",
			want: []string{"namespace: is required"}},
		{name: "pods: bad namespace, minReady, maxRestarts, unbalanced selector", kind: "kubernetes.podsReady",
			with: "{namespace: Mimir_NS, selector: 'tier in (a,b', minReady: 0, maxRestarts: -1}",
			want: []string{
				`namespace: must be a namespace name (lowercase letters, digits and '-', at most 63), got "Mimir_NS"`,
				`selector: is not a label selector (like app=web,tier in (a,b)), got "tier in (a,b"`,
				"minReady: must be ≥ 1, got 0",
				"maxRestarts: must be ≥ 0, got -1",
			}},
		{name: "templated namespace and selector are accepted at load time", kind: "kubernetes.podsReady",
			with: `{namespace: "{{ .params.ns }}", selector: "app={{ .params.app }}"}`},
	})
}

func TestValidateScale(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "one deployment by name", kind: "kubernetes.scale", with: "{namespace: mimir, name: mimir-api, replicas: 3}"},
		{name: "every deployment of the namespace", kind: "kubernetes.scale", with: "{namespace: maip-services, all: true, replicas: 4}"},
		{name: "statefulsets by selector, to zero", kind: "kubernetes.scale",
			with: "{namespace: mimir, workload: statefulset, selector: app=redis, replicas: 0, waitReady: false}"},
		{name: "negative replicas", kind: "kubernetes.scale", with: "{namespace: mimir, name: api, replicas: -1}",
			want: []string{"replicas: must be ≥ 0, got -1"}},
		{name: "replicas missing", kind: "kubernetes.scale", with: "{namespace: mimir, name: api}",
			want: []string{"replicas: is required"}},
		{name: "name and all together", kind: "kubernetes.scale", with: "{namespace: mimir, name: api, all: true, replicas: 1}",
			want: []string{"name: at most one of name, selector, all"}},
		{name: "nothing chosen", kind: "kubernetes.scale", with: "{namespace: mimir, replicas: 1}",
			want: []string{"name: one of name, selector, all is required"}},
		{name: "unknown workload and bad name", kind: "kubernetes.scale", with: "{namespace: mimir, workload: daemonset, name: Mimir_API, replicas: 1}",
			want: []string{
				`workload: must be one of deployment, statefulset, got "daemonset"`,
				`name: must be an object name (lowercase letters, digits, '-' and '.'), got "Mimir_API"`,
			}},
	})
}

func TestValidatePatch(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "strategic patch of a service as YAML", kind: "kubernetes.patch",
			with: "{namespace: mimir, resource: service, name: postgres-primary-service, patch: {spec: {selector: {app: postgres}}}}"},
		{name: "merge patch as a JSON string", kind: "kubernetes.patch",
			with: `{namespace: mimir, resource: configmap, name: mimir-config, type: merge, patch: '{"data":{"REGION":"us-west-2"}}'}`},
		{name: "json patch operations", kind: "kubernetes.patch",
			with: "{resource: deployments.apps, namespace: a, name: b, type: json, patch: [{op: replace, path: /spec/replicas, value: 3}]}"},
		{name: "a templated value inside the patch", kind: "kubernetes.patch",
			with: `{resource: configmap, namespace: a, name: b, type: merge, patch: {data: {HOST: "{{ .steps.lb.outputs.hostname }}"}}}`},
		{name: "a whole templated patch", kind: "kubernetes.patch",
			with: `{resource: configmap, namespace: a, name: b, patch: "{{ .params.patch }}"}`},
		{name: "patch, resource and name missing", kind: "kubernetes.patch", with: "{namespace: mimir}",
			want: []string{"resource: is required", "name: is required", "patch: is required"}},
		{name: "broken JSON", kind: "kubernetes.patch", with: `{resource: service, name: a, patch: '{"spec":'}`,
			want: []string{"patch: is not valid JSON: unexpected end of JSON input"}},
		{name: "a list for a merge patch", kind: "kubernetes.patch", with: "{resource: service, name: a, type: merge, patch: [{op: add, path: /x}]}",
			want: []string{"patch: a merge patch must be a mapping, got a list (use type: json for operations)"}},
		{name: "operations with a bad op and no path", kind: "kubernetes.patch", with: "{resource: service, name: a, type: json, patch: [{op: upsert}]}",
			want: []string{"patch[0].op: must be one of add, remove, replace, move, copy, test, got upsert", "patch[0].path: is required"}},
		{name: "a mapping for a json patch", kind: "kubernetes.patch", with: "{resource: service, name: a, type: json, patch: {spec: {}}}",
			want: []string{"patch: a json patch must be a list of operations, got a mapping"}},
		{name: "unknown type and bad resource", kind: "kubernetes.patch", with: "{resource: Services!, name: a, type: apply, patch: {a: 1}}",
			want: []string{
				`resource: must be a resource such as service, configmaps or deployments.apps, got "Services!"`,
				`type: must be one of strategic, merge, json, got "apply"`,
			}},
	})
}

func TestValidateResourcesAndAddresses(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "named secrets", kind: "kubernetes.resourcesPresent", with: "{namespace: mimir, resource: secrets, names: [a, b]}"},
		{name: "bound claims", kind: "kubernetes.resourcesPresent", with: "{namespace: mimir, resource: persistentvolumeclaims, minCount: 1, phase: Bound}"},
		{name: "cluster-scoped volumes", kind: "kubernetes.resourcesPresent", with: "{resource: persistentvolumes}"},
		{name: "duplicate and empty names, negative count", kind: "kubernetes.resourcesPresent",
			with: "{resource: secrets, names: [a, '', a], minCount: -2}",
			want: []string{"names[1]: must not be empty", `names[2]: duplicate name "a"`, "minCount: must be ≥ 0, got -2"}},
		{name: "resource missing", kind: "kubernetes.resourcesPresent", with: "{namespace: mimir}",
			want: []string{"resource: is required"}},
		{name: "a load balancer hostname", kind: "kubernetes.serviceAddress", with: "{namespace: mimir, name: mimir-api-service, require: hostname}"},
		{name: "service address without name, unknown require", kind: "kubernetes.serviceAddress", with: "{namespace: mimir, require: cname}",
			want: []string{"name: is required", `require: must be one of any, hostname, ip, got "cname"`}},
	})
}

func TestValidateExecAndApply(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "promotion by trigger file, verified", kind: "kubernetes.exec",
			with: "{namespace: mimir, pod: postgres-standby-0, command: [touch, /tmp/t], check: {command: [psql, -tAc, 'SELECT pg_is_in_recovery()'], output: f}}"},
		{name: "exec without a check", kind: "kubernetes.exec", with: "{namespace: mimir, pod: p, command: [touch, /tmp/t]}",
			want: []string{"check: is required: without it the step cannot tell whether the command took effect"}},
		{name: "exec: pod and selector, no command, empty check", kind: "kubernetes.exec",
			with: "{namespace: mimir, pod: p, selector: app=x, container: Web_1, check: {}}",
			want: []string{
				"pod: at most one of pod, selector",
				`container: must be a container name, got "Web_1"`,
				"command: is required (a list: [program, arg, …])",
				"check.command: is required (a list: [program, arg, …])",
			}},
		{name: "exec check by selector", kind: "kubernetes.execCheck",
			with: "{namespace: mimir, selector: app=api, command: [python, -c, 'print(1)'], output: '1'}"},
		{name: "exec check without a pod or a command", kind: "kubernetes.execCheck", with: "{namespace: mimir}",
			want: []string{"pod: one of pod, selector is required", "command: is required (a list: [program, arg, …])"}},
		{name: "exec check with an empty program", kind: "kubernetes.execCheck", with: "{namespace: mimir, pod: p, command: ['  ', x]}",
			want: []string{"command[0]: the program must not be empty"}},
		{name: "apply a file", kind: "kubernetes.apply", with: "{namespace: mimir, file: mimir/restore-job.yaml, wait: true}"},
		{name: "apply inline manifests", kind: "kubernetes.apply",
			with: "{manifest: \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: a}\\n---\\napiVersion: batch/v1\\nkind: Job\\nmetadata: {name: b}\\n\"}"},
		{name: "apply: file and manifest", kind: "kubernetes.apply", with: "{file: a.yaml, manifest: 'kind: x'}",
			want: []string{"file: at most one of file, manifest", "manifest: document 1: apiVersion is required", "manifest: document 1: metadata.name is required"}},
		{name: "apply: nothing", kind: "kubernetes.apply", with: "{}",
			want: []string{"file: one of file, manifest is required"}},
		{name: "apply: the second document is not an object", kind: "kubernetes.apply",
			with: "{manifest: \"apiVersion: v1\\nkind: Secret\\nmetadata: {name: a}\\n---\\n- a list\\n\"}",
			want: []string{"manifest: document 2 is not a Kubernetes object (a mapping with apiVersion, kind and metadata.name)"}},
		{name: "apply: a manifest that is not YAML", kind: "kubernetes.apply", with: "{manifest: \"a: [\"}",
			want: []string{"manifest: is not YAML: yaml: line 1: did not find expected node content"}},
	})
}

func TestValidateDiagnostics(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "events with defaults", kind: "kubernetes.events", with: "{namespace: mimir}"},
		{name: "pod warnings, limited", kind: "kubernetes.events", with: "{fieldSelector: involvedObject.kind=Pod, type: Warning, since: 10m, maxWarnings: 0}"},
		{name: "events: bad type, limit, since, maxWarnings", kind: "kubernetes.events", with: "{type: Error, limit: 5000, since: 0s, maxWarnings: -1}",
			want: []string{
				`type: must be one of Normal, Warning, got "Error"`,
				"since: must be > 0, got 0s",
				"limit: must be between 1 and 1000, got 5000",
				"maxWarnings: must be ≥ 0, got -1",
			}},
		{name: "logs of a deployment's pods", kind: "kubernetes.logs", with: "{namespace: mimir, selector: app=api, tail: 100, failPattern: 'FATAL|panic:'}"},
		{name: "logs: bad tail and pattern", kind: "kubernetes.logs", with: "{namespace: mimir, pod: p, tail: -1, failPattern: '(unclosed'}",
			want: []string{"tail: must be between 1 and 10000, got -1", "failPattern: is not a regular expression: error parsing regexp: missing closing ): `(unclosed`"}},
		{name: "pod metrics with limits", kind: "kubernetes.podMetrics", with: "{namespace: mimir, maxCpu: 500m, maxMemory: 2Gi}"},
		{name: "pod metrics: bad quantities", kind: "kubernetes.podMetrics", with: "{namespace: mimir, maxCpu: half, maxMemory: 2GB}",
			want: []string{`maxCpu: is not a quantity (like 500m, 2, 512Mi), got "half"`, `maxMemory: is not a quantity (like 500m, 2, 512Mi), got "2GB"`}},
	})
}

func TestValidateRestartFieldsAndAppends(t *testing.T) {
	runValidate(t, Kinds(), []validateCase{
		{name: "restart at the step's start", kind: "kubernetes.rolloutRestart", with: `{namespace: mimir, name: mimir-api, restartedAt: "{{ now }}"}`},
		{name: "restart statefulsets by label at a time", kind: "kubernetes.rolloutRestart",
			with: "{namespace: mimir, workload: statefulset, selector: app=redis, restartedAt: '2025-03-09T02:04:05Z', waitReady: false}"},
		{name: "restart without a time", kind: "kubernetes.rolloutRestart", with: "{namespace: mimir, all: true}",
			want: []string{`restartedAt: is required: write restartedAt: "{{ now }}" (the time the step first started, the same after a restart of the bot)`}},
		{name: "restart: bad time, two choices", kind: "kubernetes.rolloutRestart", with: "{namespace: mimir, name: a, all: true, restartedAt: yesterday}",
			want: []string{"name: at most one of name, selector, all", `restartedAt: must be an RFC 3339 time (like 2025-03-09T02:04:05Z, or {{ now }}), got "yesterday"`}},
		{name: "field expectations", kind: "kubernetes.resourcesPresent",
			with: `{namespace: mimir, resource: deployments.apps, names: [api], fields: [{path: spec.replicas, equals: 0}, {path: status.phase, in: [Bound, Pending]}, {path: 'status.conditions[?(@.type=="Available")].status', equals: "True"}, {path: status.readyReplicas, atLeast: 2}, {path: metadata.annotations.x, exists: false}]}`},
		{name: "field expectations: none, two, bad path, empty in", kind: "kubernetes.resourcesPresent",
			with: "{resource: pods, namespace: a, fields: [{path: spec.replicas}, {path: a, equals: 1, exists: true}, {path: 'a[', equals: 1}, {equals: 1}, {path: b, in: []}, {path: c, equals: {a: 1}}]}",
			want: []string{
				"fields[0].equals: one of equals, in, atLeast, exists is required",
				"fields[1].equals: at most one of equals, in, atLeast, exists",
				"fields[2].path: is not a field path (like spec.replicas, status.conditions[0].status): unterminated array",
				"fields[3].path: is required (a field path such as spec.replicas or status.phase)",
				"fields[4].in: must list at least one value",
				"fields[5].equals: must be a string, a number or true/false, got map[string]interface {}",
			}},
		{name: "a json patch that appends", kind: "kubernetes.patch",
			with: "{resource: deployments.apps, namespace: a, name: b, type: json, patch: [{op: add, path: /spec/template/spec/containers/0/env/-, value: {name: A, value: b}}]}",
			want: []string{"patch[0].path: ends in /- (append): a second run would append again; add at an index, or use a merge or strategic patch"}},
		{name: "exec with timeouts", kind: "kubernetes.exec",
			with: "{namespace: mimir, pod: p, command: [x], check: {command: [y]}, commandTimeout: 2h, requestTimeout: soon}",
			want: []string{`requestTimeout: is not a duration (like 10s, 2m), got "soon"`}},
	})
}

func TestDefaultsAreFilled(t *testing.T) {
	c := &ScaleConfig{Namespace: "a", Name: "b", Replicas: new(int)}
	if err := c.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Workload != WorkloadDeployment || c.WaitReady == nil || !*c.WaitReady || c.RequestTimeout != DefaultRequestTimeout {
		t.Errorf("defaults not filled: %+v", c)
	}
	rp := &ResourcesPresentConfig{Resource: "secrets"}
	if err := rp.CheckAndSetDefaults(); err != nil || *rp.MinCount != 1 {
		t.Errorf("minCount default with no names = %v (err %v), want 1", *rp.MinCount, err)
	}
	rp = &ResourcesPresentConfig{Resource: "secrets", Names: []string{"a"}}
	if err := rp.CheckAndSetDefaults(); err != nil || *rp.MinCount != 0 {
		t.Errorf("minCount default with names = %v (err %v), want 0", *rp.MinCount, err)
	}
}

func TestRegister(t *testing.T) {
	r := steps.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	ct, ok := r.ConnectionType("kubernetes")
	if !ok || !slices.Equal(ct.Optional, []string{"kubeconfig", "context"}) {
		t.Errorf("connection type = %+v", ct)
	}
	for _, k := range Kinds() {
		if k.Connection() != "kubernetes" {
			t.Errorf("%s needs connection %q", k.Name(), k.Connection())
		}
	}
	readOnly := map[string]bool{}
	for _, name := range r.Kinds() {
		k, _ := r.Kind(name)
		readOnly[name] = k.ReadOnly()
	}
	for name, want := range map[string]bool{
		"kubernetes.nodesReady": true, "kubernetes.podsReady": true, "kubernetes.resourcesPresent": true,
		"kubernetes.serviceAddress": true, "kubernetes.execCheck": true, "kubernetes.events": true,
		"kubernetes.logs": true, "kubernetes.podMetrics": true,
		"kubernetes.scale": false, "kubernetes.patch": false, "kubernetes.exec": false, "kubernetes.apply": false,
		"kubernetes.rolloutRestart": false,
	} {
		if got, ok := readOnly[name]; !ok || got != want {
			t.Errorf("%s: registered %v, ReadOnly %v; want ReadOnly %v", name, ok, got, want)
		}
	}
	if k, _ := r.Kind("kubernetes.serviceAddress"); !slices.Equal(k.Outputs(), []string{"hostname", "ip"}) {
		t.Errorf("serviceAddress outputs = %v", k.Outputs())
	}
	if err := Register(r); err == nil {
		t.Error("registering twice succeeded; want a collision error")
	}
}
