package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	get := Flags(fs, func(k string) string { return env[k] })
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags: %v", err)
	}
	return get()
}

func TestPrecedenceIsDefaultsThenFileThenEnvThenFlags(t *testing.T) {
	dir := t.TempDir()
	rb := filepath.Join(dir, "rb")
	if err := os.Mkdir(rb, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bot.yaml")
	body := "runbookDir: " + rb + "\nstorePath: from-file.db\ninstance: from-file\nleaseTTL: 10s\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"-config", file, "-instance", "from-flag"},
		map[string]string{"FAILOVER_STORE_PATH": "from-env.db", "FAILOVER_INSTANCE": "from-env"})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if c.RunbookDir != rb || c.StorePath != "from-env.db" || c.Instance != "from-flag" || c.LeaseTTL != 10*time.Second {
		t.Fatalf("got runbookDir=%q store=%q instance=%q ttl=%s", c.RunbookDir, c.StorePath, c.Instance, c.LeaseTTL)
	}
	if c.LogLevel != "info" {
		t.Fatalf("default log level lost: %q", c.LogLevel)
	}
}

func TestBadConfigNamesEveryField(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(file, []byte("logLevel: loud\nleaseTTL: 1ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, []string{"-config", file, "-runbooks", filepath.Join(dir, "missing")},
		map[string]string{"DATABASE_URL": "mysql://x"})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"runbookDir", "logLevel", "leaseTTL", "DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestUnknownFileFieldIsRefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bot.yaml")
	if err := os.WriteFile(file, []byte("runbookdir: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, []string{"-config", file}, nil)
	if err == nil || !strings.Contains(err.Error(), "runbookdir") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func TestBadEnvDurationIsNamed(t *testing.T) {
	_, err := load(t, nil, map[string]string{"FAILOVER_LEASE_TTL": "soon"})
	if err == nil || !strings.Contains(err.Error(), "FAILOVER_LEASE_TTL") {
		t.Fatalf("want an error naming FAILOVER_LEASE_TTL, got %v", err)
	}
}

func TestDatabaseURLIsNeverInErrors(t *testing.T) {
	_, err := load(t, []string{"-runbooks", "/nonexistent"}, map[string]string{"DATABASE_URL": "postgres://u:hunter22@db/x"})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "hunter22") {
		t.Fatalf("error leaks the database password: %v", err)
	}
}

func TestRunbookEnvAndTheBotsCredentials(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "app-token")
	if err := os.WriteFile(tokenFile, []byte("xapp-1-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(file, []byte("runbookDir: "+dir+"\nrunbookEnv: {prefixes: [ACME_RB_], names: [AWS_REGION]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := load(t, []string{"-config", file}, map[string]string{
		"SLACK_BOT_TOKEN": "xoxb-1-from-env", "SLACK_APP_TOKEN_FILE": tokenFile, "PAGERDUTY_TOKEN": "pd-token-1",
		"FAILOVER_RUNBOOK_ENV_NAMES": "AWS_REGION, KUBECONFIG", "FAILOVER_SECRETS_ENV_PREFIX": "ACME_SECRET_"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Policy()
	if strings.Join(p.EnvPrefixes, ",") != "ACME_RB_" || strings.Join(p.EnvNames, ",") != "AWS_REGION,KUBECONFIG" || p.SecretPrefix != "ACME_SECRET_" {
		t.Errorf("policy = %+v", p)
	}
	for name, want := range map[string]string{"SLACK_BOT_TOKEN": "xoxb-1-from-env", "SLACK_APP_TOKEN": "xapp-1-from-a-file",
		"PAGERDUTY_TOKEN": "pd-token-1", "DATABASE_URL": "", "STATUSPAGE_API_KEY": ""} {
		if got, ok := p.Credentials[name]; !ok || got != want {
			t.Errorf("credential %s = %q (known %v), want %q", name, got, ok, want)
		}
	}
	for env, want := range map[string]string{
		"SLACK_":        `runbookEnv: runbook environment prefix "SLACK_" would expose the bot's credential SLACK_APP_TOKEN`,
		"FAILOVER_":     `overlaps the secret prefix "FAILOVER_SECRET_"`,
		"DATABASE_URL,": `would expose the bot's credential DATABASE_URL`,
	} {
		_, err := load(t, []string{"-runbooks", dir}, map[string]string{"FAILOVER_RUNBOOK_ENV_PREFIXES": env})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("prefixes %q: err = %v, want %q", env, err, want)
		}
	}
}

func TestConnectionsOverlayFromFileEnvOrFlag(t *testing.T) {
	dir := t.TempDir()
	overlay := filepath.Join(dir, "lab.yaml")
	other := filepath.Join(dir, "stage.yaml")
	for _, f := range []string{overlay, other} {
		if err := os.WriteFile(f, []byte("connections: {}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(file, []byte("runbookDir: "+dir+"\nconnections: "+overlay+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := load(t, []string{"-config", file}, nil); err != nil || c.Connections != overlay {
		t.Errorf("file: %q, %v", c.Connections, err)
	}
	if c, err := load(t, []string{"-runbooks", dir}, map[string]string{"FAILOVER_CONNECTIONS": other}); err != nil || c.Connections != other {
		t.Errorf("env: %q, %v", c.Connections, err)
	}
	if c, err := load(t, []string{"-config", file, "--connections", other}, nil); err != nil || c.Connections != other {
		t.Errorf("flag over file: %q, %v", c.Connections, err)
	}
	_, err := load(t, []string{"-runbooks", dir, "-connections", filepath.Join(dir, "missing.yaml")}, nil)
	if err == nil || !strings.Contains(err.Error(), "config: connections: ") {
		t.Errorf("a missing overlay file: %v", err)
	}
}
