package runbook

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidRunbookLoadsIntoTheValidatedForm(t *testing.T) {
	rb, err := Load("testdata/valid.yaml", testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("name", rb.Name, "lab-failover")
	check("source", rb.Source, "testdata/valid.yaml")
	check("severity", rb.Severity, "critical")
	check("channel", rb.Channel, "#incident-lab")
	check("expected duration", rb.ExpectedDuration, 5*time.Minute)
	check("approval", rb.Approval, ApprovalPolicy{Required: 2, Groups: []string{"oncall"}, Expiry: 15 * time.Minute})
	check("regions", rb.Regions["primary"], Region{Name: "primary", Description: "main", CloudRegion: "us-east-1"})
	check("secret reference kept as written", rb.Connections["dr_db"],
		Connection{Name: "dr_db", Type: "postgres", Region: "dr", Fields: map[string]string{"dsn": "${secret:DR_PG_DSN}"}})
	check("params", rb.Params, []Param{
		{Name: "replicas", Description: "replicas in DR", Default: "3"},
		{Name: "ticket", Required: true},
		{Name: "promote", Default: "yes"},
	})
	if len(rb.Assess) != 1 || !rb.Assess[0].ReadOnly || rb.Assess[0].Timeout != 10*time.Second || rb.Assess[0].Phase != "" {
		t.Errorf("assess = %+v", rb.Assess)
	}
	var ids []string
	for _, s := range rb.AllSteps() {
		ids = append(ids, s.Phase+"/"+s.ID)
		if s.Factory == nil {
			t.Errorf("step %s has no Factory", s.ID)
		}
	}
	check("steps in order", ids, []string{"database/check_lag", "database/promote_db", "database/force_promote", "apps/scale_up"})
	p := rb.Step("promote_db")
	check("promote name", p.Name, "Promote the DR standby")
	check("promote needs", p.Needs, []string{"check_lag"})
	check("promote timeout", p.Timeout, 2*time.Minute)
	check("promote retry", p.Retry, Retry{Attempts: 5, Backoff: time.Second, MaxBackoff: 10 * time.Second})
	check("promote connection", p.Connection, "dr_db")
	check("promote line", p.Line, 35)
	check("promote has a condition", p.When != nil, true)
	check("alternative", rb.Step("force_promote").AlternativeOf, "promote_db")
	check("a step without a name is named by its id", rb.Step("check_lag").Name, "check_lag")
	check("no condition", rb.Step("scale_up").When == nil, true)
	if len(rb.Hash) != 64 || rb.Hash != rb.PlanHash(nil) {
		t.Errorf("Hash = %q, want PlanHash(nil)", rb.Hash)
	}
}

func TestApprovalDefaults(t *testing.T) {
	rb, err := Parse("x.yaml", []byte("name: t\n"), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	want := ApprovalPolicy{Required: 2, Expiry: 15 * time.Minute}
	if !reflect.DeepEqual(rb.Approval, want) {
		t.Errorf("approval = %+v, want %+v", rb.Approval, want)
	}
	rb, err = Parse("x.yaml", []byte("name: t\napproval: {required: 0}\n"), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Approval.Required != 0 {
		t.Errorf("an explicit required: 0 became %d", rb.Approval.Required)
	}
}

func TestAnchorsAndMergeKeysAreFollowed(t *testing.T) {
	src := `name: t
x-retry: &retry {attempts: 3, backoff: 1s}
phases:
- id: p
  steps:
  - {id: a, kind: test.future, retry: *retry}
`
	_, err := Parse("x.yaml", []byte(src), testRegistry(t))
	// x-retry is not a field: extension keys are not allowed either.
	if err == nil || !strings.Contains(err.Error(), `x.yaml:2: x-retry: unknown field "x-retry"`) {
		t.Fatalf("err = %v", err)
	}
	src = `name: t
phases:
- id: p
  steps:
  - {id: a, kind: test.future, retry: &retry {attempts: 3, backoff: 1s}}
  - id: b
    kind: test.future
    retry: {<<: *retry, attempts: 4}
`
	rb, err := Parse("x.yaml", []byte(src), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := rb.Step("b").Retry; got != (Retry{Attempts: 4, Backoff: time.Second}) {
		t.Errorf("merged retry = %+v", got)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "name: alpha\n")
	write("b.yml", "name: beta\n")
	write("notes.md", "not a runbook\n")
	got, err := LoadDir(dir, testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["alpha"] == nil || got["beta"] == nil {
		t.Fatalf("LoadDir = %v", got)
	}

	t.Run("two runbooks of one name are an error naming both files", func(t *testing.T) {
		write("c.yaml", "description: again\nname: alpha\n")
		_, err := LoadDir(dir, testRegistry(t))
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("err = %v", err)
		}
		want := filepath.Join(dir, "c.yaml") + `:2: name: runbook name "alpha" is already used by ` + filepath.Join(dir, "a.yaml")
		if err.Error() != want {
			t.Errorf("err = %q\nwant %q", err, want)
		}
	})
	t.Run("every bad file is reported", func(t *testing.T) {
		write("c.yaml", "name: gamma\nbogus: 1\n")
		write("d.yaml", "name: delta\nphases: 3\n")
		got, err := LoadDir(dir, testRegistry(t))
		if err == nil || len(strings.Split(err.Error(), "\n")) != 2 {
			t.Fatalf("err = %v", err)
		}
		if len(got) != 2 {
			t.Errorf("the clean runbooks are still returned: %v", got)
		}
	})
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", testRegistry(t))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
