package runbook

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

const secretValue = "s3cr3t-pa55word"

// env is the fake environment of these tests: secrets and ${env:…} values.
func env(name string) (string, bool) {
	v, ok := map[string]string{
		"FAILOVER_SECRET_DR_PG_DSN": "postgres://bot:" + secretValue + "@db:5432/app",
		"FAILOVER_SECRET_TOKEN":     secretValue,
		"FAILOVER_RB_KUBECONFIG":    "/etc/kube/dr.yaml",
	}[name]
	return v, ok
}

func loadValid(t *testing.T) (*Runbook, *secret.Redactor) {
	t.Helper()
	red := &secret.Redactor{}
	rb, err := Load("testdata/valid.yaml", testRegistry(t),
		WithSecrets(&secret.Resolver{Lookup: env, Redactor: red}), WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return rb, red
}

func TestBuildExpandsParamsOutputsAndConnection(t *testing.T) {
	rb, _ := loadValid(t)
	vars := Vars{
		Params:  map[string]string{"ticket": "INC-42"},
		Outputs: map[string]map[string]string{"check_lag": {"hostname": "db.dr.internal"}},
	}
	st, err := rb.Step("scale_up").Factory.Build(context.Background(), vars)
	if err != nil {
		t.Fatal(err)
	}
	f := steps.Unwrap(st).(*fakeStep)
	cfg := f.cfg.(*scaleConfig)
	if cfg.Name != "api-INC-42" || cfg.Replicas != 3 || cfg.Selector["app"] != "db.dr.internal" || cfg.Target.Namespace != "prod" {
		t.Errorf("config = %+v", cfg)
	}
	want := steps.Connection{Name: "dr_cluster", Type: "kubernetes", Region: "dr",
		Fields: map[string]string{"context": "dr-cluster", "kubeconfig": "/etc/kube/dr.yaml"}}
	if f.conn == nil || f.conn.Name != want.Name || f.conn.Region != want.Region || len(f.conn.Fields) != 2 ||
		f.conn.Fields["kubeconfig"] != want.Fields["kubeconfig"] || f.conn.Fields["context"] != "dr-cluster" {
		t.Errorf("connection = %+v, want %+v", f.conn, want)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		step    string
		vars    Vars
		want    string
		notWant string
	}{
		{
			name: "a missing output is a clear error",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: lb, kind: test.check}\n  - {id: a, kind: test.check, needs: [lb], with: {url: 'http://{{ .steps.lb.outputs.hostname }}/'}}\n",
			step: "a",
			want: "build step a (test.check): with.url: .steps.lb.outputs.hostname: step lb has no outputs: it has not finished, or it was skipped",
		},
		{
			name: "a kind declared but not implemented says so",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.future}\n",
			step: "a",
			want: "build step a (test.future): step kind test.future is declared but not implemented yet",
		},
		{
			name:    "a connection error never shows the secret in the dsn",
			src:     "name: t\nconnections: {db: {type: postgres, dsn: '${secret:DR_PG_DSN}'}}\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.promote, connection: db}\n",
			step:    "a",
			want:    "build step a (test.promote): connect to [redacted]: connection refused",
			notWant: secretValue,
		},
		{
			name:    "a config error about an expanded secret never shows it",
			src:     "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {expect: '${secret:TOKEN}'}}\n",
			step:    "a",
			want:    `build step a (test.check): with: expect: must be up or down, not "[redacted]"`,
			notWant: secretValue,
		},
		{
			name: "a missing secret names the secret",
			src:  "name: t\nconnections: {db: {type: postgres, dsn: '${secret:NOPE}'}}\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.promote, connection: db}\n",
			step: "a",
			want: "build step a (test.promote): connection db: connections.db.dsn: secret NOPE: secret not found (no secrets directory is configured, and the environment variable FAILOVER_SECRET_NOPE is not set)",
		},
		{
			name: "an unset environment variable is named",
			src:  "name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, with: {url: 'http://${env:FAILOVER_RB_NO_SUCH}/'}}\n",
			step: "a",
			want: "build step a (test.check): with.url: environment variable FAILOVER_RB_NO_SUCH is not set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb, err := Parse("x.yaml", []byte(tt.src), testRegistry(t),
				WithSecrets(&secret.Resolver{Lookup: env, Redactor: &secret.Redactor{}}), WithEnv(env))
			if err != nil {
				t.Fatal(err)
			}
			st := rb.Step(tt.step)
			_, err = st.Factory.Build(context.Background(), tt.vars)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error leaks %q: %v", tt.notWant, err)
			}
		})
	}
}

func TestBuildFillsTheAWSRegionFromTheRunbookRegion(t *testing.T) {
	src := "name: t\nregions: {dr: {cloudRegion: us-west-2}}\nconnections: {acct: {type: aws, region: dr}}\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.awsthing, connection: acct}\n"
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := rb.Step("a").Factory.Build(context.Background(), Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if got := steps.Unwrap(st).(*fakeStep).conn.Fields["region"]; got != "us-west-2" {
		t.Errorf("region field = %q", got)
	}
}

func TestWhen(t *testing.T) {
	tests := []struct {
		name    string
		when    string
		params  map[string]string
		want    bool
		wantErr string
	}{
		{name: "a true condition runs the step", when: `{{ eq .params.promote "yes" }}`, params: map[string]string{"promote": "yes"}, want: true},
		{name: "a false condition skips the step", when: `{{ eq .params.promote "yes" }}`, params: map[string]string{"promote": "no"}, want: false},
		{name: "surrounding spaces are ignored", when: ` {{ if .params.promote }}true{{ else }}false{{ end }} `, params: map[string]string{"promote": "x"}, want: true},
		{name: "a result other than true or false is an error", when: `{{ .params.promote }}`, params: map[string]string{"promote": "maybe"},
			wantErr: `phases[0].steps[0].when: condition gave "maybe", want true or false`},
		{name: "a missing parameter is an error", when: `{{ .params.promote }}`,
			wantErr: `phases[0].steps[0].when: .params.promote: no parameter "promote"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "name: t\nparams: [{name: promote}]\nphases:\n- id: p\n  steps:\n  - id: a\n    kind: test.check\n    when: '" + tt.when + "'\n"
			rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
			if err != nil {
				t.Fatal(err)
			}
			got, err := rb.Step("a").When(Vars{Params: tt.params})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("err = %v\nwant  %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("When = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParameterValuesAreNeverExpandedAsReferences(t *testing.T) {
	src := "name: t\nparams: [{name: x}]\nconnections: {k: {type: kubernetes}}\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.scale, connection: k, with: {name: 'n-{{ .params.x }}-${env:FAILOVER_RB_KUBECONFIG}'}}\n"
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t),
		WithSecrets(&secret.Resolver{Lookup: env, Redactor: &secret.Redactor{}}), WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	build := func(x string) (steps.Probe, error) {
		return rb.Step("a").Factory.Build(context.Background(), Vars{Params: map[string]string{"x": x}})
	}
	st, err := build("prod")
	if err != nil {
		t.Fatal(err)
	}
	if got := steps.Unwrap(st).(*fakeStep).cfg.(*scaleConfig).Name; got != "n-prod-/etc/kube/dr.yaml" {
		t.Errorf("name = %q", got)
	}
	for _, x := range []string{"${secret:TOKEN}", "{{ .params.x }}"} {
		_, err := build(x)
		want := "build step a (test.scale): with.name: a parameter or step output holds {{ or ${, which is not allowed in expanded values"
		if err == nil || err.Error() != want {
			t.Errorf("param %q: err = %v", x, err)
		}
	}
}

func TestStepsGetTheLoggerWithTheirIDAndKind(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	rb, err := Parse("x.yaml", []byte("name: t\nassess:\n- {id: a, kind: test.logs}\n"), testRegistry(t), WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rb.Assess[0].Factory.Build(context.Background(), Vars{}); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "level=INFO msg=building step=a kind=test.logs\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestBuildIsSafeForConcurrentUse(t *testing.T) {
	rb, _ := loadValid(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			vars := Vars{Params: map[string]string{"ticket": fmt.Sprint(i)},
				Outputs: map[string]map[string]string{"check_lag": {"hostname": "h"}}}
			st, err := rb.Step("scale_up").Factory.Build(context.Background(), vars)
			if err == nil && steps.Unwrap(st).(*fakeStep).cfg.(*scaleConfig).Name != fmt.Sprintf("api-%d", i) {
				err = fmt.Errorf("build %d got %+v", i, steps.Unwrap(st).(*fakeStep).cfg)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
