package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
	"github.com/failoverbot/failoverbot/internal/logtest"
	"github.com/failoverbot/failoverbot/internal/pgserver"
	"github.com/failoverbot/failoverbot/internal/pgserver/pgtest"
)

// serveProc is one `bot serve` process of a test, with JSON logs.
type serveProc struct {
	name   string
	cmd    *exec.Cmd
	out    *logtest.Buffer
	addr   string // its operations endpoints
	exited chan struct{}
}

// startServe runs `bot serve -metrics-addr 127.0.0.1:0` with env (on top of
// botEnv) and waits until it says where its endpoints listen.
func startServe(t *testing.T, bin, name string, env map[string]string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-metrics-addr", "127.0.0.1:0")
	e := map[string]string{"FAILOVER_LOG_FORMAT": "json", "FAILOVER_INSTANCE": name, "FAILOVER_LOG_LEVEL": "info"}
	for k, v := range env {
		e[k] = v
	}
	cmd.Env = botEnv(e)
	p := &serveProc{name: name, cmd: cmd, out: &logtest.Buffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bot serve %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("--- %s's log (tail):\n%s", name, tail(p.out.String(), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for p.addr == "" {
		for _, l := range p.logLines() {
			if l["msg"] == "operations endpoints listening" {
				p.addr, _ = l["addr"].(string)
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("bot serve %s exited:\n%s", name, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("bot serve %s did not listen within 30s:\n%s", name, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// logLines are the process's JSON log records so far.
func (p *serveProc) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.out.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// get fetches one of the process's endpoints (status, body).
func (p *serveProc) get(path string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// scrape parses the process's /metrics with the Prometheus text parser.
func (p *serveProc) scrape(t *testing.T) metricFams {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scrape %s: %d %v", p.name, code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s's /metrics: %v", p.name, err)
	}
	return fams
}

// metricFams is a parsed scrape.
type metricFams map[string]*dto.MetricFamily

// sum adds the values (a histogram's count) of the family's series whose
// labels include the given name/value pairs; -1 when the family is absent.
func (f metricFams) sum(name string, labels ...string) float64 {
	fam := f[name]
	if fam == nil {
		return -1
	}
	total := 0.0
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// waitUntil polls cond every 20ms until it holds or within passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// newSlack is a fake Slack with the lab runbooks' people: three on-call
// responders and approvers.
func newSlack(t *testing.T, connections int) *slackfake.Server {
	t.Helper()
	f := slackfake.New(slackfake.Options{PingInterval: time.Second, Connections: connections})
	t.Cleanup(f.Close)
	for _, u := range []slackfake.User{{ID: "UALICE", Name: "alice"}, {ID: "UBOB", Name: "bob"}, {ID: "UCAROL", Name: "carol"}} {
		f.AddUser(u)
	}
	f.SetGroup("SONCALL", "oncall", "UALICE", "UBOB", "UCAROL")
	return f
}

// slackEnv points a bot at the fake.
func slackEnv(f *slackfake.Server) map[string]string {
	return map[string]string{"SLACK_APP_TOKEN": slackfake.AppToken, "SLACK_BOT_TOKEN": slackfake.BotToken, "SLACK_API_URL": f.APIURL()}
}

// startStore starts a PostgreSQL server for the bots' store and returns
// it with the DSN of a database made for the test.
func startStore(t *testing.T) (*pgserver.Server, string) {
	t.Helper()
	srv := pgtest.Start(t)
	return srv, pgtest.NewDatabase(t, srv)
}

// shippedRunbooks is the repository's runbooks directory.
func shippedRunbooks(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "runbooks"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

var _ = fmt.Sprintf
