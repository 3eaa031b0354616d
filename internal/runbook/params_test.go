package runbook

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/secret"
)

func TestBindParams(t *testing.T) {
	rb, _ := loadValid(t) // replicas (default 3), ticket (required), promote (default yes)
	tests := []struct {
		name    string
		given   map[string]string
		want    map[string]string
		wantErr string
	}{
		{name: "defaults fill what is not given",
			given: map[string]string{"ticket": "INC-1"},
			want:  map[string]string{"ticket": "INC-1", "replicas": "3", "promote": "yes"}},
		{name: "given values win over defaults",
			given: map[string]string{"ticket": "INC-1", "replicas": "5"},
			want:  map[string]string{"ticket": "INC-1", "replicas": "5", "promote": "yes"}},
		{name: "a missing required parameter is named",
			given:   map[string]string{},
			wantErr: "missing required parameter ticket (give it as ticket=<value>)"},
		{name: "an unknown parameter is named with a suggestion",
			given:   map[string]string{"ticket": "INC-1", "replica": "2"},
			wantErr: "unknown parameter replica (did you mean replicas?)"},
		{name: "a value that looks like a reference is refused",
			given:   map[string]string{"ticket": "${secret:TOKEN}"},
			wantErr: "parameter ticket: a value cannot hold {{ or ${"},
		{name: "all problems are reported together",
			given:   map[string]string{"zzz": "1"},
			wantErr: "missing required parameter ticket (give it as ticket=<value>)\nunknown parameter zzz (runbook lab-failover takes: replicas, ticket, promote)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rb.BindParams(tt.given)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v\nwant  %s", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("bad params still bound: %v", got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("BindParams = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestCheckSecrets(t *testing.T) {
	src := `name: t
connections:
  db: {type: postgres, dsn: "${secret:DR_PG_DSN}"}
  other: {type: postgres, dsn: "postgres://u:${secret:MISSING_PW}@h/db"}
phases:
- id: p
  steps:
  - id: a
    kind: test.check
    with:
      url: "https://x/?token=${secret:TOKEN}&other=${secret:API_KEY}"
`
	rb, err := Parse("runbooks/x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	red := &secret.Redactor{}
	err = rb.CheckSecrets(&secret.Resolver{Lookup: env, Redactor: red})
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("err = %v", err)
	}
	want := strings.Join([]string{
		"runbooks/x.yaml:4: connections.other.dsn: secret MISSING_PW: secret not found (no secrets directory is configured, and the environment variable FAILOVER_SECRET_MISSING_PW is not set)",
		"runbooks/x.yaml:11: phases[0].steps[0].with.url: secret API_KEY: secret not found (no secrets directory is configured, and the environment variable FAILOVER_SECRET_API_KEY is not set)",
	}, "\n")
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
	if strings.Contains(err.Error(), secretValue) {
		t.Errorf("error leaks a secret value")
	}
	if red.Scrub(secretValue) != secret.Redacted {
		t.Errorf("resolved secrets are not known to the redactor")
	}

	all := func(name string) (string, bool) {
		if v, ok := env(name); ok {
			return v, ok
		}
		return "value-of-" + name, true
	}
	if err := rb.CheckSecrets(&secret.Resolver{Lookup: all}); err != nil {
		t.Errorf("with every secret set: %v", err)
	}
}
