package runbook

import (
	"context"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty"
	"github.com/failoverbot/failoverbot/internal/notify/stakeholders"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// notifyBase is a runbook with two phases (db, web) and a notify section
// from line 17 on.
const notifyBase = `name: lab
params:
  - {name: incident, default: ""}
phases:
  - id: db
    steps:
      - id: lag
        kind: test.check
        with: {url: "http://db/lag", expect: up}
  - id: web
    steps:
      - id: scale
        kind: test.scale
        connection: k8s
        with: {name: api, replicas: 3}
connections: {k8s: {type: kubernetes}}
notify:
  public: [db, scale]
  statuspage:
    baseURL: "${env:FAILOVER_RB_SP_URL}"
    apiKey: "${secret:SP_KEY}"
    page: pg1
    name: "Lab: failing over ({{ .params.incident }})"
    components:
      - {id: c1, at: {started: major_outage, db: degraded_performance, succeeded: operational}}
    monitoringAt: web
    messages: {started: "Moving {{ .Runbook }} ({{ .Elapsed }})", db: "DB done"}
  pagerduty:
    token: "${secret:PD_TOKEN}"
    from: bot@example.com
    incident: "{{ .params.incident }}"
    routingKey: "${secret:PD_KEY}"
  stakeholders:
    channels: ["#status"]
    userGroups: [S0STAKE]
`

func TestANotifySectionLoadsIntoTypedConfigs(t *testing.T) {
	rb, err := Parse("x.yaml", []byte(notifyBase), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	n := rb.Notify
	if n == nil || strings.Join(n.Public, ",") != "db,scale" || strings.Join(n.NotifierNames(), ",") != "statuspage,pagerduty,stakeholders" {
		t.Fatalf("notify = %+v", n)
	}
	sp := n.Notifiers[0].Config.(*statuspage.Config)
	if sp.APIKey != "${secret:SP_KEY}" || sp.Impact != "major" || sp.Components[0].At["db"] != "degraded_performance" ||
		sp.Messages["started"] != "Moving {{ .Runbook }} ({{ .Elapsed }})" || n.Notifiers[0].Line != 19 {
		t.Errorf("statuspage config = %+v (line %d)", sp, n.Notifiers[0].Line)
	}
	if _, ok := n.Notifiers[1].Config.(*pagerduty.Config); !ok {
		t.Errorf("pagerduty config is %T", n.Notifiers[1].Config)
	}
	if _, ok := n.Notifiers[2].Config.(*stakeholders.Config); !ok {
		t.Errorf("stakeholders config is %T", n.Notifiers[2].Config)
	}
}

func TestNotifySectionErrorsNameTheLineAndField(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"an unknown notifier is refused with a suggestion", "  pagerduty:\n", "  pagerdutty:\n",
			[]string{`runbooks/x.yaml:28: notify.pagerdutty: unknown notifier "pagerdutty" (did you mean pagerduty?)`}},
		{"a public ID must be a phase or step", "public: [db, scale]", "public: [db, scael]",
			[]string{`runbooks/x.yaml:18: notify.public[1]: unknown phase or step "scael"`}},
		{"a credential in clear is refused", `apiKey: "${secret:SP_KEY}"`, `apiKey: "sk-live-123456"`,
			[]string{`runbooks/x.yaml:21: notify.statuspage.apiKey: a credential is given as ${secret:NAME}, never written in the runbook`}},
		{"a component state is checked at its line", "db: degraded_performance", "db: degraded",
			[]string{`runbooks/x.yaml:25: notify.statuspage.components[0].at.db: must be one of operational, degraded_performance, partial_outage, major_outage, under_maintenance, got "degraded"`}},
		{"a milestone key must be a milestone, phase or step", "monitoringAt: web", "monitoringAt: webb",
			[]string{`runbooks/x.yaml:26: notify.statuspage.monitoringAt: "webb" is neither a milestone`, "(did you mean web?)"}},
		{"a message template is checked when the runbook loads", `db: "DB done"`, `db: "{{ .Databse }}"`,
			[]string{`runbooks/x.yaml:27: notify.statuspage.messages.db: template: `, "can't evaluate field Databse"}},
		{"a setting can only use declared params", `incident: "{{ .params.incident }}"`, `incident: "{{ .params.incidnet }}"`,
			[]string{`runbooks/x.yaml:31: notify.pagerduty.incident: unknown parameter "incidnet" (did you mean incident?)`}},
		{"a setting cannot use step outputs", `page: pg1`, `page: "{{ .steps.lag.outputs.hostname }}"`,
			[]string{`runbooks/x.yaml:22: notify.statuspage.page: notifier settings cannot use step outputs (.steps.lag.outputs.hostname)`}},
		{"unknown fields are refused", "    userGroups: [S0STAKE]\n", "    userGroups: [S0STAKE]\n    channel: \"#x\"\n",
			[]string{`runbooks/x.yaml:36: notify.stakeholders.channel: unknown field "channel" (did you mean channels?)`}},
		{"a required field is named at the notifier", "    channels: [\"#status\"]\n", "",
			[]string{`runbooks/x.yaml:33: notify.stakeholders.channels: at least one channel is required`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(notifyBase, tc.old, tc.new, 1)
			if src == notifyBase {
				t.Fatalf("%q not found in the base runbook", tc.old)
			}
			got := strings.Join(parseIssues(t, src), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("issues lack %q:\n%s", w, got)
				}
			}
		})
	}
}

// Build expands parameters, ${env:…} and ${secret:…} in the settings, not
// in the messages; a notifier whose secret is missing is left out, named,
// and its error holds no secret.
func TestBuildExpandsTheSettingsOfARun(t *testing.T) {
	env := map[string]string{"FAILOVER_RB_SP_URL": "http://127.0.0.1:9/v1", "FAILOVER_SECRET_SP_KEY": "sp-key-0123456789", "FAILOVER_SECRET_PD_TOKEN": "pd-token-secret"}
	red := &secret.Redactor{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	rb, err := Parse("x.yaml", []byte(notifyBase), testRegistry(t),
		WithSecrets(&secret.Resolver{Lookup: lookup, Redactor: red}), WithEnv(lookup))
	if err != nil {
		t.Fatal(err)
	}
	built, err := rb.Notify.Build(context.Background(), Vars{Params: map[string]string{"incident": "P123"}})
	if err == nil || !strings.Contains(err.Error(), "pagerduty could not be set up") || !strings.Contains(err.Error(), "PD_KEY") {
		t.Fatalf("err = %v, want pagerduty's missing PD_KEY named", err)
	}
	if strings.Contains(err.Error(), "pd-token-secret") {
		t.Errorf("the error shows a secret: %v", err)
	}
	if len(built) != 2 || built[0].Name != "statuspage" || built[1].Name != "stakeholders" {
		t.Fatalf("built %+v", built)
	}
	sp := built[0].Config.(*statuspage.Config)
	if sp.BaseURL != "http://127.0.0.1:9/v1" || sp.APIKey != "sp-key-0123456789" || sp.Name != "Lab: failing over (P123)" ||
		sp.Messages["started"] != "Moving {{ .Runbook }} ({{ .Elapsed }})" {
		t.Errorf("expanded statuspage = %+v", sp)
	}
	// The section as written is untouched by a build.
	if rb.Notify.Notifiers[0].Config.(*statuspage.Config).APIKey != "${secret:SP_KEY}" {
		t.Error("Build changed the runbook's config")
	}
}

func TestTheNotifySectionIsPartOfThePlanHash(t *testing.T) {
	without := strings.SplitN(notifyBase, "notify:", 2)[0]
	base := hashOf(t, notifyBase)
	for name, src := range map[string]string{
		"no notify section":     without,
		"another component":     strings.Replace(notifyBase, "id: c1", "id: c2", 1),
		"another message":       strings.Replace(notifyBase, `db: "DB done"`, `db: "Database done"`, 1),
		"a phase made public":   strings.Replace(notifyBase, "public: [db, scale]", "public: [db, web, scale]", 1),
		"no stakeholders":       strings.SplitN(notifyBase, "  stakeholders:", 2)[0],
		"another pagerduty key": strings.Replace(notifyBase, "${secret:PD_KEY}", "${secret:PD_KEY2}", 1),
	} {
		if hashOf(t, src) == base {
			t.Errorf("%s: the plan hash did not change", name)
		}
	}
	// Formatting does not count.
	flow := strings.Replace(notifyBase, "  stakeholders:\n    channels: [\"#status\"]\n    userGroups: [S0STAKE]\n",
		"  stakeholders: {userGroups: [S0STAKE], channels: [\"#status\"]}\n", 1)
	if hashOf(t, flow) != base {
		t.Error("the flow style of the same section changed the hash")
	}
	// A runbook without a notify section keeps its hash (no "notify" key).
	if h := hashOf(t, without); h != hashOf(t, without+"\n") {
		t.Error("unstable")
	}
}
