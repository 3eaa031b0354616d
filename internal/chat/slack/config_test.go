package slack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	appFile := filepath.Join(dir, "app")
	if err := os.WriteFile(appFile, []byte("xapp-1-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFromEnv(envMap(map[string]string{
		EnvAppTokenFile: appFile, EnvBotToken: "xoxb-from-env", EnvAPIURL: "http://127.0.0.1:9/api/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppToken.Reveal() != "xapp-1-from-file" || c.BotToken.Reveal() != "xoxb-from-env" || c.APIURL != "http://127.0.0.1:9/api/" {
		t.Errorf("config = %+v", c)
	}
	if c.Workers != 8 || c.UpdateInterval != time.Second || c.DedupeTTL != 10*time.Minute {
		t.Errorf("defaults not set: %+v", c)
	}
	if s := strings.Join([]string{c.AppToken.String(), c.BotToken.String()}, " "); strings.Contains(s, "xoxb-from-env") || strings.Contains(s, "from-file") {
		t.Errorf("tokens print themselves: %s", s)
	}
	c, err = ConfigFromEnv(envMap(map[string]string{EnvAppToken: "xapp-1", EnvBotToken: "xoxb-1"}))
	if err != nil || c.APIURL != DefaultAPIURL {
		t.Errorf("default API URL: %q, %v", c.APIURL, err)
	}
}

func TestConfigErrorsAreClearAndNeverShowTokens(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"missing", map[string]string{}, []string{"SLACK_APP_TOKEN (or SLACK_APP_TOKEN_FILE) is required", "SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is required"}},
		{"both", map[string]string{EnvAppToken: "xapp-secret1", EnvAppTokenFile: "/x", EnvBotToken: "xoxb-secret2"}, []string{"at most one of SLACK_APP_TOKEN and SLACK_APP_TOKEN_FILE"}},
		{"swapped", map[string]string{EnvAppToken: "xoxb-secret1", EnvBotToken: "xapp-secret2"}, []string{"starting with xapp-", "starting with xoxb-"}},
		{"file", map[string]string{EnvAppTokenFile: "/nonexistent/app", EnvBotToken: "xoxb-secret2"}, []string{"read SLACK_APP_TOKEN_FILE (/nonexistent/app)"}},
		{"url", map[string]string{EnvAppToken: "xapp-secret1", EnvBotToken: "xoxb-secret2", EnvAPIURL: "https://slack.com/api"}, []string{`SLACK_API_URL) "https://slack.com/api" must end in /`}},
		{"scheme", map[string]string{EnvAppToken: "xapp-secret1", EnvBotToken: "xoxb-secret2", EnvAPIURL: "slack.com/api/"}, []string{"must be an http(s) URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromEnv(envMap(tc.env))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows a token: %v", err)
			}
		})
	}
	if _, err := New(Config{AppToken: "xapp-1", BotToken: "xoxb-1", Workers: -1}, newRecorder(), nil); err == nil ||
		!strings.Contains(err.Error(), "Workers must not be negative") {
		t.Errorf("New with negative workers = %v", err)
	}
	b, err := New(Config{AppToken: "xapp-1", BotToken: "xoxb-1"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "SetHandler") {
		t.Errorf("Run without a handler = %v", err)
	}
}

func TestTTLSetForgetsOldAndBoundsMemory(t *testing.T) {
	now := time.Unix(0, 0)
	s := newTTLSet(time.Minute, 3, func() time.Time { return now })
	if !s.Add("a") || s.Add("a") {
		t.Fatal("a should be new once")
	}
	now = now.Add(2 * time.Minute)
	if !s.Add("a") {
		t.Error("a should be forgotten after the TTL")
	}
	for _, k := range []string{"b", "c", "d", "e"} {
		s.Add(k)
	}
	if n := s.Len(); n > 3 {
		t.Errorf("%d keys kept, max 3", n)
	}
	if s.Add("e") {
		t.Error("the newest key was forgotten")
	}
}
