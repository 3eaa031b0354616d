package runbook

import (
	"errors"
	"strings"
	"testing"
)

// parseIssues parses src as x.yaml and returns the error's lines (nil when
// the runbook is valid). It fails the test if a bad runbook still yields a
// *Runbook or an error of another type.
func parseIssues(t *testing.T, src string) []string {
	t.Helper()
	rb, err := Parse("runbooks/x.yaml", []byte(src), testRegistry(t))
	if err == nil {
		return nil
	}
	if rb != nil {
		t.Errorf("a bad runbook yielded a *Runbook")
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if got := len(strings.Split(err.Error(), "\n")); got != len(verr.Issues) {
		t.Errorf("Error() has %d lines for %d issues", got, len(verr.Issues))
	}
	return strings.Split(err.Error(), "\n")
}

// conns is a connections block used by many cases (lines 2-6).
const conns = `regions: {dr: {cloudRegion: us-west-2}}
connections:
  db: {type: postgres, region: dr, dsn: "${secret:PG_DSN}"}
  k8s: {type: kubernetes, context: dr}
params: [{name: ticket, required: true}, {name: count, default: "1"}]
`

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "a runbook without a name is refused",
			src:  "description: x\nphases: []\n",
			want: []string{"runbooks/x.yaml:1: name: missing runbook name"},
		},
		{
			name: "a name with capitals or underscores is refused",
			src:  "name: Lab_Failover\n",
			want: []string{`runbooks/x.yaml:1: name: bad name "Lab_Failover": use lower-case letters, digits and dashes`},
		},
		{
			name: "a bad duration names the field and shows the form expected",
			src:  "name: t\nexpectedDuration: 5 minutes\n",
			want: []string{`runbooks/x.yaml:2: expectedDuration: invalid duration "5 minutes" (use Go durations such as 30s, 5m, 1h30m)`},
		},
		{
			name: "a negative approval count is refused",
			src:  "name: t\napproval:\n  groups: [oncall]\n  required: -1\n",
			want: []string{"runbooks/x.yaml:4: approval.required: must be ≥ 0"},
		},
		{
			name: "an approval count that is not a number is refused",
			src:  "name: t\napproval: {required: two}\n",
			want: []string{`runbooks/x.yaml:2: approval.required: must be a whole number, got "two"`},
		},
		{
			name: "an unknown top-level field is refused with a suggestion",
			src:  "name: t\nchanel: '#x'\n",
			want: []string{`runbooks/x.yaml:2: chanel: unknown field "chanel" (did you mean channel?)`},
		},
		{
			name: "an unknown approval field is refused",
			src:  "name: t\napproval:\n  required: 1\n  expires: 5m\n",
			want: []string{`runbooks/x.yaml:4: approval.expires: unknown field "expires" (did you mean expiry?)`},
		},
		{
			name: "an unknown step field is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - id: a\n    kind: test.check\n    timout: 5s\n",
			want: []string{`runbooks/x.yaml:7: phases[0].steps[0].timout: unknown field "timout" (did you mean timeout?)`},
		},
		{
			name: "an unknown retry field is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - id: a\n    kind: test.future\n    retry: {attempts: 3, jitter: true}\n",
			want: []string{`runbooks/x.yaml:7: phases[0].steps[0].retry.jitter: unknown field "jitter" (known fields: attempts, backoff, maxBackoff)`},
		},
		{
			name: "an unknown field of the kind's config is refused, also nested",
			src: "name: t\n" + conns + `phases:
- id: p
  steps:
  - id: a
    kind: test.scale
    connection: k8s
    with:
      name: api
      replica: 2
      target: {namespace: x, cluster: y}
`,
			want: []string{
				`runbooks/x.yaml:15: phases[0].steps[0].with.replica: unknown field "replica" (did you mean replicas?)`,
				`runbooks/x.yaml:16: phases[0].steps[0].with.target.cluster: unknown field "cluster" (known fields: namespace)`,
			},
		},
		{
			name: "a value of the wrong type in with names the field",
			src: "name: t\n" + conns + `phases:
- id: p
  steps:
  - id: a
    kind: test.scale
    connection: k8s
    with:
      name: api
      replicas: many
`,
			want: []string{`runbooks/x.yaml:15: phases[0].steps[0].with.replicas: must be a whole number, got "many"`},
		},
		{
			name: "a type error in a flow mapping names the right field",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k8s, with: {name: x, replicas: lots}}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].with.replicas: must be a whole number, got "lots"`},
		},
		{
			name: "a template naming an alternative step's output is refused",
			src: `name: t
phases:
- id: p
  steps:
  - {id: lb, kind: test.check}
  - {id: lb2, kind: test.check, alternativeOf: lb}
- id: q
  steps:
  - {id: a, kind: test.check, with: {url: '{{ .steps.lb2.outputs.hostname }}'}}
`,
			want: []string{"runbooks/x.yaml:9: phases[1].steps[0].with.url: step lb2 is an alternative of lb and only runs if that fails: its outputs are not guaranteed"},
		},
		{
			name: "a kind's CheckAndSetDefaults errors are placed at the line of their field",
			src: "name: t\n" + conns + `phases:
- id: p
  steps:
  - id: a
    kind: test.scale
    connection: k8s
    with:
      name: api
      ports:
        - port: 80
        - port: 0
      replicas: -2
`,
			want: []string{
				"runbooks/x.yaml:17: phases[0].steps[0].with.ports[1].port: must be > 0",
				"runbooks/x.yaml:18: phases[0].steps[0].with.replicas: must be ≥ 0",
			},
		},
		{
			name: "an unknown field does not hide the kind's CheckAndSetDefaults errors",
			src: "name: t\n" + conns + `phases:
- id: p
  steps:
  - id: a
    kind: test.scale
    connection: k8s
    with:
      name: api
      replcas: 2
      replicas: -1
`,
			want: []string{
				"runbooks/x.yaml:15: phases[0].steps[0].with.replcas: unknown field \"replcas\" (did you mean replicas?)",
				"runbooks/x.yaml:16: phases[0].steps[0].with.replicas: must be ≥ 0",
			},
		},
		{
			name: "a kind's CheckAndSetDefaults error about a missing field is placed at the with line",
			src: "name: t\n" + conns + `phases:
- id: p
  steps:
  - id: a
    kind: test.scale
    connection: k8s
    with: {replicas: 2}
`,
			want: []string{"runbooks/x.yaml:13: phases[0].steps[0].with.name: is required"},
		},
		{
			name: "an unknown step kind lists close names",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - id: a\n    kind: test.chek\n",
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].kind: unknown step kind "test.chek" (did you mean test.check?); "bot kinds" lists every kind`},
		},
		{
			name: "a step without a kind is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - id: a\n",
			want: []string{`runbooks/x.yaml:5: phases[0].steps[0].kind: missing step kind; "bot kinds" lists every kind`},
		},
		{
			name: "duplicate step ids are refused, also across assess and phases",
			src:  "name: t\nassess:\n- {id: a, kind: test.check}\nphases:\n- id: p\n  steps:\n  - {id: b, kind: test.check}\n  - {id: a, kind: test.check}\n",
			want: []string{`runbooks/x.yaml:8: phases[0].steps[1].id: duplicate step id "a" (first at line 3)`},
		},
		{
			name: "a step id templates cannot name is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: check-lag, kind: test.check}\n",
			want: []string{`runbooks/x.yaml:5: phases[0].steps[0].id: bad id "check-lag": use [a-z][a-z0-9_]* (templates name steps by id)`},
		},
		{
			name: "needs naming a missing step is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: check_lag, kind: test.check}\n  - {id: b, kind: test.check, needs: [check_lga]}\n",
			want: []string{`runbooks/x.yaml:6: phases[0].steps[1].needs[0]: unknown step "check_lga" (did you mean check_lag?)`},
		},
		{
			name: "needs naming a step of a later phase is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, needs: [b]}\n- id: q\n  steps:\n  - {id: b, kind: test.check}\n",
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].needs[0]: step b is in a later phase (q): needs may only name steps of this or earlier phases"},
		},
		{
			name: "a cycle in needs is named",
			src: `name: t
phases:
- id: p
  steps:
  - {id: a, kind: test.check, needs: [c]}
  - {id: b, kind: test.check, needs: [a]}
  - {id: c, kind: test.check, needs: [b]}
`,
			want: []string{"runbooks/x.yaml:6: phases[0].steps[1].needs[0]: needs cycle: a → c → b → a"},
		},
		{
			name: "a step needing itself is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, needs: [a]}\n",
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].needs[0]: a step cannot need itself"},
		},
		{
			name: "alternativeOf naming a missing step is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: promote, kind: test.check}\n  - {id: force, kind: test.check, alternativeOf: promot}\n",
			want: []string{`runbooks/x.yaml:6: phases[0].steps[1].alternativeOf: unknown step "promot" (did you mean promote?)`},
		},
		{
			name: "a step without the connection its kind needs is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, with: {name: x}}\n",
			want: []string{"runbooks/x.yaml:10: phases[0].steps[0].connection: missing connection: kind test.scale needs a connection of type kubernetes (kubernetes connections: k8s)"},
		},
		{
			name: "a connection of the wrong type is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: db, with: {name: x}}\n",
			want: []string{"runbooks/x.yaml:10: phases[0].steps[0].connection: connection db is of type postgres, and kind test.scale needs kubernetes (kubernetes connections: k8s)"},
		},
		{
			name: "an undeclared connection is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.promote, connection: dr_db}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].connection: unknown connection "dr_db" (postgres connections: db)`},
		},
		{
			name: "a connection on a kind that takes none is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, connection: db}\n",
			want: []string{"runbooks/x.yaml:10: phases[0].steps[0].connection: kind test.check takes no connection"},
		},
		{
			name: "an unknown connection type is refused",
			src:  "name: t\nconnections:\n  db: {type: mysql, dsn: x}\n",
			want: []string{`runbooks/x.yaml:3: connections.db.type: unknown connection type "mysql" (known: aws, kubernetes, postgres)`},
		},
		{
			name: "a connection missing a required field is refused",
			src:  "name: t\nconnections:\n  db:\n    type: postgres\n",
			want: []string{`runbooks/x.yaml:3: connections.db.dsn: missing field "dsn" (required by connection type postgres)`},
		},
		{
			name: "a connection field its type does not take is refused",
			src:  "name: t\nconnections:\n  db: {type: postgres, dsn: x, password: y}\n",
			want: []string{`runbooks/x.yaml:3: connections.db.password: unknown field "password" for connection type postgres (allowed: type, region, dsn)`},
		},
		{
			name: "a connection in an undeclared region is refused",
			src:  "name: t\nregions: {dr: {cloudRegion: us-west-2}}\nconnections:\n  db: {type: postgres, dsn: x, region: primary}\n",
			want: []string{`runbooks/x.yaml:4: connections.db.region: unknown region "primary" (declared: dr)`},
		},
		{
			name: "a template that does not parse is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: 'http://{{ .params.x'}}\n",
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].with.url: template does not parse: unclosed action"},
		},
		{
			name: "a template naming an undeclared parameter is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: 'http://{{ .params.tickte }}'}}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].with.url: unknown parameter "tickte" (did you mean ticket?)`},
		},
		{
			name: "a template naming a missing step is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: '{{ .steps.lb.outputs.hostname }}'}}\n",
			want: []string{`runbooks/x.yaml:5: phases[0].steps[0].with.url: unknown step "lb" in .steps.lb.outputs.hostname`},
		},
		{
			name: "a template naming a step not surely run before is refused",
			src: `name: t
phases:
- id: p
  steps:
  - {id: lb, kind: test.check}
  - {id: a, kind: test.check, with: {url: '{{ .steps.lb.outputs.hostname }}'}}
`,
			want: []string{"runbooks/x.yaml:6: phases[0].steps[1].with.url: step lb is not guaranteed to run before a: add it to needs or move it to an earlier phase"},
		},
		{
			name: "a template naming a step of a later phase is refused",
			src: `name: t
phases:
- id: p
  steps:
  - {id: a, kind: test.check, with: {url: '{{ .steps.lb.outputs.hostname }}'}}
- id: q
  steps:
  - {id: lb, kind: test.check}
`,
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].with.url: step lb is not guaranteed to run before a: add it to needs or move it to an earlier phase"},
		},
		{
			name: "a template naming an output the kind does not declare is refused",
			src: `name: t
phases:
- id: p
  steps:
  - {id: lb, kind: test.check}
- id: q
  steps:
  - {id: a, kind: test.check, with: {url: '{{ .steps.lb.outputs.hostnme }}'}}
`,
			want: []string{`runbooks/x.yaml:8: phases[1].steps[0].with.url: step lb (kind test.check) has no output "hostnme" (its outputs: hostname)`},
		},
		{
			name: "a template with an unknown root field is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: '{{ .param.x }}'}}\n",
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].with.url: unknown template field .param.x (use .params.<name>, .steps.<id>.outputs.<name> or .run.<field>)"},
		},
		{
			name: "a malformed secret reference is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: '${secrets:TOKEN}'}}\n",
			want: []string{`runbooks/x.yaml:5: phases[0].steps[0].with.url: bad reference "${secrets:TOKEN}" (use ${secret:NAME} or ${env:NAME})`},
		},
		{
			name: "a template in a number field is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k8s, with: {name: x, replicas: '{{ .params.count }}'}}\n",
			want: []string{"runbooks/x.yaml:10: phases[0].steps[0].with.replicas: templates are only allowed in string fields (this one is int)"},
		},
		{
			name: "an assess check of a kind that changes things is refused",
			src:  "name: t\n" + conns + "assess:\n- {id: a, kind: test.scale, connection: k8s, with: {name: x}}\n",
			want: []string{"runbooks/x.yaml:8: assess[0].kind: assess checks must be read-only, and kind test.scale changes things"},
		},
		{
			name: "a condition naming an undeclared parameter is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, when: '{{ eq .params.go \"yes\" }}'}\n",
			want: []string{`runbooks/x.yaml:5: phases[0].steps[0].when: unknown parameter "go" (the runbook declares no params)`},
		},
		{
			name: "fields of an inline struct are known, and a type decoding itself is not looked into",
			src:  "name: t\nassess:\n- {id: a, kind: test.inline, with: {callTimeout: 5s, size: {any: [1]}, labels: {a: b}}}\n- {id: b, kind: test.inline, with: {calltimeout: 5s}}\n",
			want: []string{`runbooks/x.yaml:4: assess[1].with.calltimeout: unknown field "calltimeout" (did you mean callTimeout?)`},
		},
		{
			name: "a non-string template in a bool field is refused",
			src:  "name: t\nparams: [{name: x}]\nassess:\n- {id: a, kind: test.inline, with: {enabled: '{{ .params.x }}'}}\n",
			want: []string{
				`runbooks/x.yaml:4: assess[0].with.enabled: templates are only allowed in string fields (this one is bool)`,
			},
		},
		{
			name: "bad parameter declarations are refused",
			src:  "name: t\nparams:\n- {name: my-param}\n- {name: a, required: true, default: x}\n- {name: a}\n- {description: nameless}\n- {name: b, required: maybe}\n- {name: c, default: '${secret:X}'}\n",
			want: []string{
				`runbooks/x.yaml:3: params[0].name: bad parameter name "my-param": use letters, digits and _ (templates name it as .params.<name>)`,
				`runbooks/x.yaml:4: params[1].default: a required parameter cannot have a default`,
				`runbooks/x.yaml:5: params[2].name: duplicate parameter "a" (first at line 4)`,
				`runbooks/x.yaml:6: params[3].name: missing parameter name`,
				`runbooks/x.yaml:7: params[4].required: must be true or false, got "maybe"`,
				`runbooks/x.yaml:8: params[5].default: a default is a plain value: it cannot hold {{ or ${`,
			},
		},
		{
			name: "bad phases are refused",
			src:  "name: t\nphases:\n- {name: nameless, steps: [{id: a, kind: test.check}]}\n- {id: p, steps: []}\n- {id: p, steps: [{id: b, kind: test.check}]}\n- {id: Q, steps: [{id: c, kind: test.check}]}\n",
			want: []string{
				"runbooks/x.yaml:3: phases[0].id: missing phase id",
				"runbooks/x.yaml:4: phases[1].steps: a phase needs at least one step",
				`runbooks/x.yaml:5: phases[2].id: duplicate phase id "p" (first at line 4)`,
				`runbooks/x.yaml:6: phases[3].id: bad id "Q": use [a-z][a-z0-9_]*`,
			},
		},
		{
			name: "assess checks cannot need, replace or use outputs",
			src:  "name: t\nassess:\n- {id: a, kind: test.check}\n- {id: b, kind: test.check, needs: [a], alternativeOf: a, with: {url: '{{ .steps.a.outputs.hostname }}'}}\n",
			want: []string{
				"runbooks/x.yaml:4: assess[1].alternativeOf: assess checks cannot be alternatives",
				"runbooks/x.yaml:4: assess[1].needs[0]: assess checks all run at once: needs is not allowed",
				"runbooks/x.yaml:4: assess[1].with.url: assess checks all run at once and cannot use step outputs (.steps.a.outputs.hostname)",
			},
		},
		{
			name: "phase steps cannot need or use assess checks",
			src:  "name: t\nassess:\n- {id: a, kind: test.check}\nphases:\n- id: p\n  steps:\n  - {id: b, kind: test.check, needs: [a], with: {url: '{{ .steps.a.outputs.hostname }}'}}\n",
			want: []string{
				"runbooks/x.yaml:7: phases[0].steps[0].needs[0]: a is an assess check, not a step of a phase",
				"runbooks/x.yaml:7: phases[0].steps[0].with.url: a is an assess check: its outputs are not available to phase steps",
			},
		},
		{
			name: "an alternative in another phase is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check}\n- id: q\n  steps:\n  - {id: b, kind: test.check, alternativeOf: a}\n",
			want: []string{"runbooks/x.yaml:8: phases[1].steps[0].alternativeOf: step a is not in the same phase: an alternative must be in the phase of the step it replaces"},
		},
		{
			name: "outputs reached through needs, also transitively, are allowed",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check}\n  - {id: b, kind: test.check, needs: [a]}\n  - {id: c, kind: test.check, needs: [b], with: {url: '{{ .steps.a.outputs.hostname }}'}}\n",
			want: nil,
		},
		{
			name: "template references are checked inside if, range and with, and through $",
			src: "name: t\nparams: [{name: x}]\nassess:\n- id: a\n  kind: test.check\n  with:\n" +
				"    url: '{{ if .params.y }}{{ .params.x }}{{ end }}'\n" +
				"    expect: '{{ with .params.x }}{{ .anything }}{{ $.params.z }}{{ else }}{{ .params.w }}{{ end }}'\n",
			want: []string{
				`runbooks/x.yaml:7: assess[0].with.url: unknown parameter "y" (declared: x)`,
				`runbooks/x.yaml:8: assess[0].with.expect: unknown parameter "w" (declared: x)`,
				`runbooks/x.yaml:8: assess[0].with.expect: unknown parameter "z" (declared: x)`,
			},
		},
		{
			name: "malformed template references are refused",
			src:  "name: t\nparams: [{name: x}]\nassess:\n- {id: a, kind: test.check, with: {url: '{{ .params }}{{ .params.x.y }}{{ .steps.a.hostname }}', expect: '{{ define \"t\" }}x{{ end }}{{ template \"t\" }}'}}\n",
			want: []string{
				"runbooks/x.yaml:4: assess[0].with.expect: defining templates is not supported",
				"runbooks/x.yaml:4: assess[0].with.expect: {{ template }} is not supported",
				"runbooks/x.yaml:4: assess[0].with.url: bad reference .params (use .params.<name>)",
				"runbooks/x.yaml:4: assess[0].with.url: bad reference .params.x.y (use .params.<name>)",
				"runbooks/x.yaml:4: assess[0].with.url: bad reference .steps.a.hostname (use .steps.<id>.outputs.<name>)",
			},
		},
		{
			name: "a secret in a condition is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, when: '{{ eq \"${secret:X}\" \"y\" }}'}\n",
			want: []string{"runbooks/x.yaml:5: phases[0].steps[0].when: secrets cannot be used in a condition"},
		},
		{
			name: "a connection field may not use step outputs but may use params",
			src:  "name: t\nparams: [{name: db}]\nconnections:\n  db: {type: postgres, dsn: 'postgres://h/{{ .params.db }}{{ .steps.a.outputs.hostname }}'}\n",
			want: []string{"runbooks/x.yaml:4: connections.db.dsn: connection fields cannot use step outputs (.steps.a.outputs.hostname)"},
		},
		{
			name: "values of the wrong shape are refused",
			src:  "name: [t]\napproval: {groups: oncall, allowRequester: yes}\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.future, needs: a, retry: {attempts: -1, backoff: 2s, maxBackoff: 1s}, timeout: -5s}\n",
			want: []string{
				"runbooks/x.yaml:1: name: missing runbook name",
				"runbooks/x.yaml:1: name: must be a string, got a list",
				"runbooks/x.yaml:2: approval.allowRequester: must be true or false, got \"yes\"",
				"runbooks/x.yaml:2: approval.groups: must be a list of strings, e.g. [a, b], got \"oncall\"",
				"runbooks/x.yaml:6: phases[0].steps[0].needs: must be a list of strings, e.g. [a, b], got \"a\"",
				"runbooks/x.yaml:6: phases[0].steps[0].retry.attempts: must be ≥ 0",
				"runbooks/x.yaml:6: phases[0].steps[0].retry.maxBackoff: must be ≥ backoff (2s)",
				"runbooks/x.yaml:6: phases[0].steps[0].timeout: must be ≥ 0",
			},
		},
		{
			name: "a YAML syntax error gives its line",
			src:  "name: t\nphases:\n  - id: [p\n",
			want: []string{"runbooks/x.yaml:3: YAML syntax: did not find expected ',' or ']'"},
		},
		{
			name: "a badly indented key gives its line",
			src:  "name: t\napproval:\n  required: 1\n expiry: 5m\n",
			want: []string{"runbooks/x.yaml:4: YAML syntax: did not find expected key"},
		},
		{
			name: "a mapping value in the wrong place gives its line",
			src:  "name: t\ndescription: a: b\n",
			want: []string{"runbooks/x.yaml:2: YAML syntax: mapping values are not allowed in this context"},
		},
		{
			name: "a recursive alias is refused",
			src:  "name: t\nphases: &p\n- id: p\n  steps: *p\n",
			want: []string{"runbooks/x.yaml:4: recursive alias: an anchor cannot contain an alias of itself"},
		},
		{
			name: "a document that explodes once aliases are expanded is refused",
			src: "name: t\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
				"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
			want: []string{"runbooks/x.yaml:1: document too large once its aliases are expanded (over 100000 nodes)"},
		},
		{
			name: "a file that is not a mapping is refused",
			src:  "- name: t\n",
			want: []string{"runbooks/x.yaml:1: must be a mapping (key: value), got a list"},
		},
		{
			name: "two documents in one file are refused",
			src:  "name: t\n---\nname: u\n",
			want: []string{"runbooks/x.yaml:2: one runbook per file: a second YAML document starts here"},
		},
		{
			name: "a duplicate key is refused",
			src:  "name: t\nname: u\n",
			want: []string{"runbooks/x.yaml:2: name: duplicate key (first at line 1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseIssues(t, tt.src)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestEveryErrorIsReportedAtOnceInLineOrder(t *testing.T) {
	src := `name: Bad_Name
expectedDuration: 5x
approval: {required: -1, foo: 1}
connections:
  db: {type: postgress, dsn: x}
  k: {type: kubernetes, contxt: y}
phases:
  - id: one
    steps:
      - id: s1
        kind: test.scal
      - id: s2
        kind: test.scale
        connection: k
        needs: [s3, nope]
        with: {name: x, replicas: -2}
      - id: s3
        kind: test.scale
        connection: k
        needs: [s2]
        with: {name: "{{ .params.b }}"}
`
	want := []string{
		`runbooks/x.yaml:1: name: bad name "Bad_Name": use lower-case letters, digits and dashes`,
		`runbooks/x.yaml:2: expectedDuration: invalid duration "5x" (use Go durations such as 30s, 5m, 1h30m)`,
		`runbooks/x.yaml:3: approval.foo: unknown field "foo" (known fields: required, groups, users, allowRequester, expiry)`,
		`runbooks/x.yaml:3: approval.required: must be ≥ 0`,
		`runbooks/x.yaml:5: connections.db.type: unknown connection type "postgress" (known: aws, kubernetes, postgres)`,
		`runbooks/x.yaml:6: connections.k.contxt: unknown field "contxt" for connection type kubernetes (did you mean context?)`,
		`runbooks/x.yaml:11: phases[0].steps[0].kind: unknown step kind "test.scal" (did you mean test.scale?); "bot kinds" lists every kind`,
		`runbooks/x.yaml:15: phases[0].steps[1].needs[1]: unknown step "nope"`,
		`runbooks/x.yaml:16: phases[0].steps[1].with.replicas: must be ≥ 0`,
		`runbooks/x.yaml:20: phases[0].steps[2].needs[0]: needs cycle: s2 → s3 → s2`,
		`runbooks/x.yaml:21: phases[0].steps[2].with.name: unknown parameter "b" (the runbook declares no params)`,
	}
	got := parseIssues(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
