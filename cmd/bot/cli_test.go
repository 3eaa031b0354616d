package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runBot(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateShippedRunbooks(t *testing.T) {
	code, out, errs := runBot(t, "validate", "../../runbooks")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, name := range []string{"lab-failover", "lab-failback", "mimir-region-failover", "mimir-failback", "maip-region-failover", "maip-failback"} {
		if !strings.Contains(out, "runbook "+name+",") {
			t.Errorf("validate did not report %s:\n%s", name, out)
		}
	}
}

func TestValidateReportsEveryErrorWithItsPlace(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	body := `name: bad
connections:
  db: {type: postgres, dsn: "postgres://x"}
phases:
  - id: one
    steps:
      - id: a
        kind: postgres.promote
        connection: db
        needs: [b]
      - id: b
        kind: nosuch.kind
        needs: [a]
`
	if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runBot(t, "validate", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		bad + `:12: phases[0].steps[1].kind: unknown step kind "nosuch.kind"`,
		bad + ":13: phases[0].steps[1].needs[0]: needs cycle",
		"1 of 1 runbooks are invalid",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

func TestPlanRefusesAMissingSecretNamingItsPlaceAndNothingRuns(t *testing.T) {
	t.Setenv("MIMIR_DR_PG_DSN", "")
	code, out, errs := runBot(t, "plan", "../../runbooks/mimir-region-failover.yaml")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if !strings.Contains(errs, "mimir-region-failover.yaml:") || !strings.Contains(errs, "secret MIMIR_DR_PG_DSN") {
		t.Fatalf("error does not name the secret and its place:\n%s", errs)
	}
}

func TestPlanNeverPrintsASecretValue(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	body := `name: s
connections:
  db: {type: postgres, dsn: "postgres://app:${secret:PW_FOR_TEST}@127.0.0.1:1/x?connect_timeout=1"}
phases:
  - id: one
    steps:
      - id: promote
        kind: postgres.promote
        connection: db
        timeout: 5s
`
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAILOVER_SECRET_PW_FOR_TEST", "sup3r-s3cret-pw")
	_, out, errs := runBot(t, "plan", f)
	if strings.Contains(out+errs, "sup3r-s3cret-pw") {
		t.Fatalf("the secret's value was printed:\n%s\n%s", out, errs)
	}
	if !strings.Contains(out, "promote") {
		t.Fatalf("plan does not list the step:\n%s\n%s", out, errs)
	}
}

func TestUnknownCommandAndBadParams(t *testing.T) {
	if code, _, errs := runBot(t, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, _, errs := runBot(t, "plan", "../../runbooks/lab-failover.yaml", "novalue"); code != 2 || !strings.Contains(errs, "want param=value") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, out, _ := runBot(t, "version"); code != 0 || !strings.HasPrefix(out, "bot ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
}
