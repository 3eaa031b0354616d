package main

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const webRunbookYAML = `name: web-failover
description: Check that the DR web tier answers.
channel: "#incident"
approval:
  required: 0
phases:
  - id: web
    name: Check the DR web tier
    steps:
      - id: dr_up
        name: DR health endpoint up
        kind: http.check
        timeout: 10s
        with: {url: "%s/health", expect: up, attemptTimeout: 2s}
`

// A run in the console shares its report and chart by writing them under
// -reports when it ends; later `bot report RUN -o DIR` writes the same
// report and a chart from the store, and prints their paths.
func TestConsoleSharesTheReportAndBotReportWritesIt(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer web.Close()
	dir := t.TempDir()
	rbDir, reports, out := filepath.Join(dir, "runbooks"), filepath.Join(dir, "reports"), filepath.Join(dir, "out")
	if err := os.Mkdir(rbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rbDir, "web.yaml"), []byte(fmt.Sprintf(webRunbookYAML, web.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script.txt")
	if err := os.WriteFile(script, []byte("/failover start web-failover check the DR tier\n/wait last\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := []string{"-runbooks", rbDir, "-store", filepath.Join(dir, "bot.db")}
	// Without -reports, next to the store.
	code, stdout, stderr := runBot(t, append([]string{"console", "-script", script}, store...)...)
	if code != 0 {
		t.Fatalf("console: exit %d\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`(web-failover-\w+)-report\.md saved to (\S+)`).FindStringSubmatch(stdout)
	if m == nil || m[2] != filepath.Join(reports, m[1]+"-report.md") {
		t.Fatalf("the console did not say where it saved the report:\n%s", stdout)
	}
	id := m[1]
	shared, err := os.ReadFile(m[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, id+"-timeline.png saved to "+filepath.Join(reports, id+"-timeline.png")) {
		t.Errorf("the console did not save the chart:\n%s", stdout)
	}

	code, stdout, stderr = runBot(t, append([]string{"report", "-o", out}, append(store, id)...)...)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	md, chart := filepath.Join(out, id+"-report.md"), filepath.Join(out, id+"-timeline.png")
	if stdout != md+"\n"+chart+"\n" {
		t.Errorf("bot report printed %q, want the two paths", stdout)
	}
	written, err := os.ReadFile(md)
	if err != nil || !bytes.Equal(written, shared) {
		t.Errorf("bot report wrote a report that differs from the one shared at the run's end (%v):\n%s", err, written)
	}
	for _, want := range []string{"Run " + id + " of web-failover: succeeded", "\nSteps:\n```\n", "\n  dr_up ", "\nNotifications ("} {
		if !strings.Contains(string(written), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	f, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 500 {
		t.Errorf("the chart is not a picture: %v", err)
	}

	// `last` is the newest run; an unknown run is an error that says so.
	if code, stdout, _ = runBot(t, append([]string{"report", "-o", out}, append(store, "last")...)...); code != 0 || !strings.Contains(stdout, id) {
		t.Errorf("report last: exit %d, %q", code, stdout)
	}
	code, _, stderr = runBot(t, append([]string{"report"}, append(store, "web-failover-nope")...)...)
	if code != 1 || !strings.Contains(stderr, `bot report: no run "web-failover-nope" in the store`) {
		t.Errorf("an unknown run: exit %d, %q", code, stderr)
	}
	if code, _, _ = runBot(t, "report"); code != 2 {
		t.Errorf("no run: exit %d, want 2 (usage)", code)
	}
}
