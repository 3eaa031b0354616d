package runbook

import (
	"strings"
	"testing"
	"time"
)

// The errors a runbook's author meets when the runbook was written by
// someone else: type errors in a kind's config worded from the Go type and
// unit, template errors without text/template's internals, fields ignored
// where they are written, and the per-step poll. Each exact text.

// step1 is a runbook with one phase step (line 5).
func step1(step string) string {
	return "name: t\nparams: [{name: x}]\nphases:\n- id: p\n  steps:\n  - " + step + "\n"
}

// allFuncs is the list every unknown-function error ends with.
const allFuncs = "and, call, eq, ge, gt, html, index, join, js, le, len, lt, ne, not, now, or, print, printf, println, slice, urlquery"

func TestAuthoringErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// Type errors: expected type from the Go field, unit from its tag.
		{
			name: "a duration written in a number field in seconds says the type and the unit",
			src:  step1("{id: a, kind: test.units, with: {threshold: 30s}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.threshold: must be a number (seconds), got "30s"`},
		},
		{
			name: "a fraction in a whole-number field is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k8s, with: {name: x, replicas: 2.5}}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].with.replicas: must be a whole number, got "2.5"`},
		},
		{
			name: "a word in a true/false field is refused",
			src:  "name: t\nassess:\n- {id: a, kind: test.inline, with: {enabled: maybe}}\n",
			want: []string{`runbooks/x.yaml:3: assess[0].with.enabled: must be true or false, got "maybe"`},
		},
		{
			name: "a single value where a list is expected is refused",
			src:  step1("{id: a, kind: test.units, with: {values: 10.0.0.1}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.values: must be a list of strings, got "10.0.0.1"`},
		},
		{
			name: "a string where a mapping of strings is expected is refused",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k8s, with: {name: x, replicas: 1, selector: app=api}}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].with.selector: must be a mapping of strings (key: value), got "app=api"`},
		},
		{
			name: "a string where a nested block is expected names its fields",
			src:  "name: t\n" + conns + "phases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k8s, with: {name: x, replicas: 1, target: prod}}\n",
			want: []string{`runbooks/x.yaml:10: phases[0].steps[0].with.target: must be a mapping (fields: namespace), got "prod"`},
		},
		{
			name: "a list in a duration field is refused",
			src:  step1("{id: a, kind: test.units, with: {hold: [10m]}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.hold: must be a duration such as 30s or 5m, got a list`},
		},
		{
			name: "the unit of a mapping's values is said for each value",
			src:  step1("{id: a, kind: test.units, with: {weights: {primary: ten, dr: 90}}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.weights.primary: must be a whole number (percent), got "ten"`},
		},
		{
			name: "a mapping in a string field is refused",
			src:  step1("{id: a, kind: test.units, with: {note: {text: hi}}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.note: must be a string, got a mapping`},
		},
		{
			name: "a with block that is not a mapping lists the kind's fields",
			src:  step1("{id: a, kind: test.units, with: [threshold]}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with: must be a mapping (fields: hold, note, threshold, values, weights), got a list`},
		},
		{
			name: "an empty retry block says what it got",
			src:  step1("{id: a, kind: test.future, retry: }"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].retry: must be a mapping (key: value), got nothing`},
		},

		// Templates.
		{
			name: "an unknown function lists the functions there are",
			src:  step1(`{id: a, kind: test.check, with: {url: '{{ lower .params.x }}'}}`),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.url: unknown function "lower" (functions: ` + allFuncs + `)`},
		},
		{
			name: "a misspelt function is suggested, and the functions listed",
			src:  step1(`{id: a, kind: test.check, with: {url: '{{ .run.approvers | jion "," }}'}}`),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.url: unknown function "jion" (did you mean join?; functions: ` + allFuncs + `)`},
		},
		{
			name: "a parse error in a template of several lines names its line, not the template's internal name",
			src:  step1("{id: a, kind: test.check, with: {url: \"a\\n{{ .params.x }\\n\"}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.url: line 2 of the template: template does not parse: unexpected "}" in operand`},
		},
		{
			name: "an unknown field of .run is refused with the known ones",
			src:  step1(`{id: a, kind: test.check, with: {url: '{{ .run.user }}'}}`),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].with.url: bad reference .run.user (use .run.id, .run.requester, .run.startedAt, .run.approvers)`},
		},
		{
			name: "an assess check cannot use the run's values",
			src:  "name: t\nassess:\n- {id: a, kind: test.check, with: {url: 'http://x/{{ .run.id }}?t={{ now }}'}}\n",
			want: []string{`runbooks/x.yaml:3: assess[0].with.url: .run.id is not known in an assess check (assessments run outside any run)`},
		},
		{
			name: "an assess check cannot use a connection that uses the run's values",
			src:  "name: t\nconnections: {db: {type: postgres, dsn: 'postgres://h/db?application_name={{ .run.id }}'}}\nassess:\n- {id: a, kind: test.promote, connection: db}\n",
			want: []string{
				`runbooks/x.yaml:4: assess[0].connection: connection db uses .run.id, which is not known in an assess check (assessments run outside any run)`,
				`runbooks/x.yaml:4: assess[0].kind: assess checks must be read-only, and kind test.promote changes things`,
			},
		},

		// Unknown kinds.
		{
			name: "a kind named by its last part suggests the kinds ending so",
			src:  step1("{id: a, kind: promote}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].kind: unknown step kind "promote" (did you mean test.promote?); "bot kinds" lists every kind`},
		},
		{
			name: "a misspelt kind suggests only the closest of kinds that share its prefix",
			src:  step1("{id: a, kind: test.unist}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].kind: unknown step kind "test.unist" (did you mean test.units?); "bot kinds" lists every kind`},
		},
		{
			name: "an unknown kind with no close name points to bot kinds",
			src:  step1("{id: a, kind: kubectl}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].kind: unknown step kind "kubectl"; "bot kinds" lists every kind`},
		},

		// Fields ignored where they are written.
		{
			name: "a condition on an assess check is refused: every check runs",
			src:  "name: t\nassess:\n- {id: a, kind: test.check, when: 'true'}\n",
			want: []string{`runbooks/x.yaml:3: assess[0].when: assess checks always run: a condition (when) is not allowed`},
		},
		{
			name: "retry and poll on an assess check are refused: it is checked once",
			src:  "name: t\nassess:\n- id: a\n  kind: test.check\n  retry: {backoff: 1s}\n  poll: {interval: 5s}\n",
			want: []string{
				`runbooks/x.yaml:5: assess[0].retry: an assess check is checked once, within its timeout: retry is not allowed`,
				`runbooks/x.yaml:6: assess[0].poll: an assess check is checked once, within its timeout: poll is not allowed`,
			},
		},
		{
			name: "retry attempts on a read-only step are refused, its backoff is not",
			src:  step1("{id: a, kind: test.check, retry: {attempts: 3, backoff: 2s}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].retry.attempts: kind test.check is read-only: it has no Apply to attempt (a failing Check is retried until the step's timeout)`},
		},

		// Poll.
		{
			name: "a poll max below its interval is refused",
			src:  step1("{id: a, kind: test.check, poll: {interval: 15s, max: 5s}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].poll.max: must be ≥ interval (15s)`},
		},
		{
			name: "a poll interval as long as the timeout is refused",
			src:  step1("{id: a, kind: test.check, timeout: 1m, poll: {interval: 1m}}"),
			want: []string{`runbooks/x.yaml:6: phases[0].steps[0].poll.interval: must be shorter than the step's timeout (1m0s)`},
		},
		{
			name: "a zero or malformed poll duration is refused",
			src:  step1("{id: a, kind: test.check, poll: {interval: 0s, max: soon}}"),
			want: []string{
				`runbooks/x.yaml:6: phases[0].steps[0].poll.interval: must be > 0`,
				`runbooks/x.yaml:6: phases[0].steps[0].poll.max: invalid duration "soon" (use Go durations such as 30s, 5m, 1h30m)`,
			},
		},
		{
			name: "an empty poll block or an unknown poll field is refused",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, poll: {}}\n  - {id: b, kind: test.check, poll: {every: 5s}}\n",
			want: []string{
				`runbooks/x.yaml:5: phases[0].steps[0].poll: give an interval, a max or both, e.g. poll: {interval: 15s}`,
				`runbooks/x.yaml:6: phases[0].steps[1].poll: give an interval, a max or both, e.g. poll: {interval: 15s}`,
				`runbooks/x.yaml:6: phases[0].steps[1].poll.every: unknown field "every" (known fields: interval, max)`,
			},
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

func TestPollIsCarriedOnTheStep(t *testing.T) {
	src := `name: t
phases:
- id: p
  steps:
  - {id: steady, kind: test.check, timeout: 5m, poll: {interval: 15s}}
  - {id: capped, kind: test.check, poll: {max: 30s}}
  - {id: growing, kind: test.check, poll: {interval: 1s, max: 8s}}
  - {id: plain, kind: test.check}
`
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]Poll{
		"steady":  {Interval: 15 * time.Second, Max: 15 * time.Second},
		"capped":  {Max: 30 * time.Second},
		"growing": {Interval: time.Second, Max: 8 * time.Second},
		"plain":   {},
	} {
		if got := rb.Step(id).Poll; got != want {
			t.Errorf("%s: poll = %+v, want %+v", id, got, want)
		}
	}
}
