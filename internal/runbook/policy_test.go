package runbook

import (
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// A reference the policy refuses makes the runbook invalid when it is
// loaded, with its place and why: it never reaches a step.
func TestRefusedReferencesAreLoadErrors(t *testing.T) {
	src := `name: t
connections:
  db: {type: postgres, dsn: "${secret:DATABASE_URL}"}
phases:
- id: p
  steps:
  - id: a
    kind: test.check
    with: {url: "http://x/?h=${env:HOME}&t=${env:SLACK_BOT_TOKEN}&ok=${env:FAILOVER_RB_X}&pw=${env:FAILOVER_SECRET_PW}"}
`
	res := &secret.Resolver{Policy: secret.Policy{Credentials: map[string]string{"SLACK_BOT_TOKEN": "", "DATABASE_URL": ""}}}
	_, err := Parse("runbooks/x.yaml", []byte(src), testRegistry(t), WithSecrets(res))
	if err == nil {
		t.Fatal("the runbook loaded")
	}
	for _, want := range []string{
		"runbooks/x.yaml:3: connections.db.dsn: ${secret:DATABASE_URL}: not allowed: DATABASE_URL is one of the bot's own credentials",
		"runbooks/x.yaml:9: phases[0].steps[0].with.url: ${env:HOME}: not allowed: runbooks may read only variables starting with FAILOVER_RB_",
		"runbooks/x.yaml:9: phases[0].steps[0].with.url: ${env:SLACK_BOT_TOKEN}: not allowed: SLACK_BOT_TOKEN is one of the bot's own credentials",
		"runbooks/x.yaml:9: phases[0].steps[0].with.url: ${env:FAILOVER_SECRET_PW}: not allowed: variables starting with FAILOVER_SECRET_ are secrets; use ${secret:PW}",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "FAILOVER_RB_X") {
		t.Errorf("an allowed reference was refused:\n%v", err)
	}
}
