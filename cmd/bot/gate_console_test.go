package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/config"
)

// A gate inside a run, from the console (`bot console --script`, the app's
// own wiring): the run waits for a DBA sign-off, /wait returns while it
// waits, /approve answers the gate (not the plan), the requester, an
// approver of the start and an outsider are refused, and two DBAs let the
// run finish.
func TestConsoleGateAskedAndApproved(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer api.Close()
	dir := t.TempDir()
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rb := `name: gated
description: a change that needs a DBA sign-off
approval: {required: 2, groups: [oncall]}
phases:
  - id: database
    steps:
      - id: dba_signoff
        kind: gate
        with: {message: "Sign off the promotion", required: 2, groups: [dba], allowRequester: false, allowEarlierApprovers: false}
      - id: promote
        kind: http.check
        needs: [dba_signoff]
        with: {url: "` + api.URL + `", expect: up}
`
	if err := os.WriteFile(filepath.Join(rbDir, "gated.yaml"), []byte(rb), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.RunbookDir, cfg.StorePath, cfg.Instance = rbDir, filepath.Join(dir, "bot.db"), "gate-test"
	cfg.Groups = map[string][]string{"oncall": {"oncall-1", "oncall-2", "oncall-3"}, "dba": {"oncall-1", "oncall-2", "dba-1", "dba-2"}}
	body := `/failover start gated drill
/approve last --as oncall-2
/approve last --as oncall-3
/wait last
/failover status last
/approve last --as oncall-1
/approve last --as oncall-2
/approve last --as visitor
/approve last --as dba-1
/approve last --as dba-2
/wait last
`
	// Refusals answer with an error, which would end a script: run it as
	// typed lines and read what it printed.
	var out, errs bytes.Buffer
	err := runConsole(context.Background(), consoleRun{cfg: cfg, in: strings.NewReader(body), out: &out, stderr: &errs, as: "oncall-1"})
	if err != nil {
		t.Fatalf("console: %v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{
		"run gated-", "is waiting for approval (waiting_approval)",
		"waiting for approval of dba_signoff: 0/2 from group dba — Sign off the promotion",
		"You requested run gated-",
		"You approved an earlier step of run gated-",
		"You may not approve gate dba_signoff",
		"Your approval of gate dba_signoff of run gated-", "(2/2)",
		"succeeded",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the console did not say %q:\n%s", want, out.String())
		}
	}
}
