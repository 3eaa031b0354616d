package charttest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/failoverbot/failoverbot/internal/chat/slack/slackfake"
)

// The rendered container, run as the pod would run it: the real bot
// binary with the Deployment's args and env (the Secret's values from the
// Slack fake), the rendered bot.yaml (its /etc and /var paths moved to a
// temporary directory) and the shipped runbooks. Its probes, by the path
// and named port the Deployment gives them, answer 200 once the bot is
// connected; /metrics answers on the same port.
func TestRenderedContainerAnswersItsProbes(t *testing.T) {
	port := freePort(t)
	r := mustRender(t, "ops", map[string]any{"replicas": 1, "store": map[string]any{"type": "sqlite"},
		"metrics": map[string]any{"port": port}})
	dep := r.one(t, "Deployment")
	c := container(t, dep)
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	var cfg string
	for _, o := range r.objs {
		if s := str(o.Object, "data", "bot.yaml"); s != "" {
			cfg = s
		}
	}
	dir := t.TempDir()
	runbooks, _ := filepath.Abs(filepath.Join("..", "..", "runbooks"))
	for _, d := range []string{"secrets", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg = strings.NewReplacer("/etc/failover/runbooks", runbooks, "/etc/failover/secrets", filepath.Join(dir, "secrets"),
		"/var/lib/failover", filepath.Join(dir, "data")).Replace(cfg)
	cfgPath := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if a == "/etc/failover/bot.yaml" {
			args[i] = cfgPath
		}
	}
	f := slackfake.New(slackfake.Options{})
	defer f.Close()
	secret := map[string]string{"SLACK_APP_TOKEN": slackfake.AppToken, "SLACK_BOT_TOKEN": slackfake.BotToken}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "SLACK_API_URL=" + f.APIURL()}
	envList, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range envList {
		m := e.(map[string]any)
		name := str(m, "name")
		switch {
		case str(m, "valueFrom", "fieldRef", "fieldPath") == "metadata.name":
			env = append(env, name+"=bot-7d9c-abcde")
		case str(m, "valueFrom", "secretKeyRef", "key") != "":
			if v, ok := secret[str(m, "valueFrom", "secretKeyRef", "key")]; ok {
				env = append(env, name+"="+v)
			}
		default:
			env = append(env, name+"="+str(m, "value"))
		}
	}
	bin := buildBot(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()

	portOf := func(name string) string {
		ports, _, _ := unstructured.NestedSlice(c, "ports")
		for _, p := range ports {
			if str(p.(map[string]any), "name") == name {
				return fmt.Sprint(num(p.(map[string]any), "containerPort"))
			}
		}
		t.Fatalf("no container port %q", name)
		return ""
	}
	probe := func(kind string) (int, string) {
		path := str(c, kind, "httpGet", "path")
		p := str(c, kind, "httpGet", "port")
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://127.0.0.1:" + portOf(p) + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		lc, _ := probe("livenessProbe")
		rc, body := probe("readinessProbe")
		if lc == 200 && rc == 200 {
			t.Logf("liveness and readiness 200; /readyz says %q", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes: liveness %d, readiness %d %q\n%s", lc, rc, body, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get("http://127.0.0.1:" + portOf("metrics") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "failover_slack_connected 1") {
		t.Errorf("/metrics on the metrics port lacks failover_slack_connected 1")
	}
	if !strings.Contains(out.String(), `"msg":"slack socket connected"`) {
		t.Errorf("the bot does not log JSON as the chart asks:\n%s", out.String())
	}
}

// buildBot builds cmd/bot of the repository (its own module).
func buildBot(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bot")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/bot")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the bot: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
