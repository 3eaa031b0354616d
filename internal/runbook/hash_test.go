package runbook

import (
	"strings"
	"testing"
)

const hashBase = `name: lab
description: first
approval: {required: 2, groups: [oncall, dba], expiry: 15m}
regions: {dr: {cloudRegion: us-west-2}}
connections:
  db: {type: postgres, region: dr, dsn: "${secret:PG_DSN}"}
  k8s: {type: kubernetes, context: dr}
params:
  - {name: replicas, default: "3"}
phases:
  - id: db
    steps:
      - id: lag
        kind: test.check
        timeout: 60s
        with: {url: "http://db/lag", expect: up}
      - id: scale
        kind: test.scale
        connection: k8s
        needs: [lag]
        with: {name: api, replicas: 3, selector: {app: api, tier: web}}
`

// hashOf parses src and returns its plan hash with no params bound.
func hashOf(t *testing.T, src string) string {
	t.Helper()
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	return rb.Hash
}

func TestPlanHashIsStableAcrossFormatting(t *testing.T) {
	base := hashOf(t, hashBase)
	tests := []struct {
		name string
		src  string
	}{
		{"block style, comments, other key order and quoting give the same hash", `# the lab runbook
description: first
name: "lab"
regions:
  dr:
    cloudRegion: 'us-west-2'
approval:
  expiry: 15m   # default
  groups: [dba, oncall]
  required: 2
connections:
  k8s:
    context: dr
    type: kubernetes
  db:
    dsn: ${secret:PG_DSN}
    type: postgres
    region: dr
params:
  - default: '3'
    name: replicas
phases:
  - steps:
      - with:
          expect: up
          url: http://db/lag
        kind: test.check
        id: lag
        timeout: 1m
      - needs:
          - lag
        connection: k8s
        id: scale
        kind: test.scale
        with:
          selector:
            tier: web
            app: api
          replicas: 3
          name: api
    id: db
`},
		{"a description change is not a plan change", strings.Replace(hashBase, "description: first", "description: second", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hashOf(t, tt.src); got != base {
				t.Errorf("hash changed: %s != %s", got, base)
			}
		})
	}
}

func TestPlanHashChangesWithThePlan(t *testing.T) {
	base := hashOf(t, hashBase)
	tests := []struct {
		name, old, new string
	}{
		{"a step's with value", "replicas: 3,", "replicas: 4,"},
		{"a nested with value", "tier: web", "tier: api"},
		{"a with field added", "replicas: 3,", "replicas: 3, ports: [{port: 80}],"},
		{"a step's timeout", "timeout: 60s", "timeout: 61s"},
		{"a step's poll interval", "timeout: 60s", "timeout: 60s\n        poll: {interval: 15s}"},
		{"a template as written", "http://db/lag", "http://db/lag?run={{ .run.id }}"},
		{"a step's kind", "kind: test.check\n        timeout: 60s\n        with: {url: \"http://db/lag\", expect: up}", "kind: test.future\n        timeout: 60s"},
		{"a step's needs", "needs: [lag]", "needs: []"},
		{"the approval count", "required: 2", "required: 1"},
		{"the approver groups", "groups: [oncall, dba]", "groups: [oncall]"},
		{"the approval expiry", "expiry: 15m", "expiry: 10m"},
		{"a param's default", `default: "3"`, `default: "2"`},
		{"a connection's secret reference", "${secret:PG_DSN}", "${secret:PG_DSN2}"},
		{"a region's cloud region", "us-west-2", "us-west-1"},
		{"a step id", "id: scale", "id: scale2"},
		{"the runbook name", "name: lab", "name: lab2"},
	}
	seen := map[string]string{base: "base"}
	for _, tt := range tests {
		t.Run("changing "+tt.name+" changes the hash", func(t *testing.T) {
			src := strings.Replace(hashBase, tt.old, tt.new, 1)
			if src == hashBase {
				t.Fatalf("test case does not change the source")
			}
			h := hashOf(t, src)
			if prev, dup := seen[h]; dup {
				t.Errorf("same hash as %s", prev)
			}
			seen[h] = tt.name
		})
	}
}

func TestPlanHashIncludesBoundParams(t *testing.T) {
	rb, err := Parse("x.yaml", []byte(hashBase), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	a := rb.PlanHash(map[string]string{"replicas": "3"})
	b := rb.PlanHash(map[string]string{"replicas": "4"})
	if a == b || a == rb.Hash {
		t.Errorf("bound params do not change the hash: %s %s %s", a, b, rb.Hash)
	}
	if a != rb.PlanHash(map[string]string{"replicas": "3"}) {
		t.Errorf("hash is not deterministic")
	}
}

func TestPlanHashIgnoresYAMLSpellingOfTheSameValue(t *testing.T) {
	doc := func(steps string) string {
		return "name: t\nphases:\n- id: p\n  steps:\n" + strings.ReplaceAll("\n"+strings.TrimSuffix(steps, "\n"), "\n", "\n  ")[1:] + "\n"
	}
	tests := []struct {
		name, a, b string
	}{
		{"a number in a string field quoted or not",
			"- {id: a, kind: test.check, with: {url: 8080}}\n",
			"- {id: a, kind: test.check, with: {url: \"8080\"}}\n"},
		{"an alias or the value it stands for",
			"- {id: a, kind: test.check, with: &w {url: http://x, expect: up}}\n- {id: b, kind: test.check, with: *w}\n",
			"- {id: a, kind: test.check, with: {url: http://x, expect: up}}\n- {id: b, kind: test.check, with: {expect: up, url: http://x}}\n"},
		{"a merge key or the keys it merges",
			"- {id: a, kind: test.check, with: &w {url: http://x}}\n- {id: b, kind: test.check, with: {<<: *w, expect: up}}\n",
			"- {id: a, kind: test.check, with: {url: http://x}}\n- {id: b, kind: test.check, with: {url: http://x, expect: up}}\n"},
		{"a retry backoff of 60s or 1m",
			"- {id: a, kind: test.future, retry: {backoff: 60s}}\n",
			"- {id: a, kind: test.future, retry: {backoff: 1m}}\n"},
		{"a poll interval alone or with the same max",
			"- {id: a, kind: test.check, poll: {interval: 15s}}\n",
			"- {id: a, kind: test.check, poll: {interval: 15s, max: 15s}}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" give the same hash", func(t *testing.T) {
			if a, b := hashOf(t, doc(tt.a)), hashOf(t, doc(tt.b)); a != b {
				t.Errorf("hashes differ: %s != %s", a, b)
			}
		})
	}
}
