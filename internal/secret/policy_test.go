package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// botEnv is a process environment: the bot's own tokens beside the
// variables meant for runbooks.
var botEnv = map[string]string{
	"SLACK_BOT_TOKEN":             "xoxb-1-the-bots-own-token",
	"SLACK_APP_TOKEN":             "xapp-1-the-apps-own-token",
	"DATABASE_URL":                "postgres://bot:store-pw-123@store/bot",
	"FAILOVER_RB_DR_ADDR":         "10.0.0.7:6379",
	"FAILOVER_RB_COPY_OF_TOKEN":   "xoxb-1-the-bots-own-token",
	"FAILOVER_SECRET_PG_PASSWORD": "pg-pw-456",
	"AWS_REGION":                  "eu-west-1",
	"PG_PASSWORD":                 "not-for-runbooks",
}

func botResolver(t *testing.T, pol Policy) *Resolver {
	t.Helper()
	pol.Credentials = map[string]string{}
	for _, n := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL", "PAGERDUTY_TOKEN"} {
		pol.Credentials[n] = botEnv[n]
	}
	dir := t.TempDir()
	for name, v := range map[string]string{"REDIS_PASSWORD": "redis-pw-789", "SLACK_BOT_TOKEN": "xoxb-1-the-bots-own-token",
		"MOUNTED_TOKEN": "xapp-1-the-apps-own-token"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &Resolver{Dir: dir, Lookup: func(k string) (string, bool) { v, ok := botEnv[k]; return v, ok },
		Redactor: &Redactor{}, Policy: pol}
}

func TestRunbooksCannotReadTheBotsCredentials(t *testing.T) {
	r := botResolver(t, Policy{EnvNames: []string{"AWS_REGION"}})
	refused := map[string]struct{ kind, name, why string }{
		"a Slack token by ${env:}":                       {"env", "SLACK_BOT_TOKEN", "one of the bot's own credentials"},
		"the _FILE form of a token":                      {"env", "SLACK_APP_TOKEN_FILE", "one of the bot's own credentials"},
		"the store's URL":                                {"env", "DATABASE_URL", "one of the bot's own credentials"},
		"any variable outside the allowed prefix":        {"env", "PG_PASSWORD", "runbooks may read only variables starting with FAILOVER_RB_ and AWS_REGION"},
		"a secret through ${env:}, unredacted":           {"env", "FAILOVER_SECRET_PG_PASSWORD", "use ${secret:PG_PASSWORD}"},
		"an allowed variable holding a token":            {"env", "FAILOVER_RB_COPY_OF_TOKEN", "its value is the bot's own credential SLACK_BOT_TOKEN"},
		"a Slack token by ${secret:}, even as a file":    {"secret", "SLACK_BOT_TOKEN", "one of the bot's own credentials"},
		"a mounted file that holds a token":              {"secret", "MOUNTED_TOKEN", "its value is the bot's own credential SLACK_APP_TOKEN"},
		"a notifier's token, set or not":                 {"secret", "PAGERDUTY_TOKEN", "one of the bot's own credentials"},
		"a secret from the environment without prefix":   {"secret", "PG_PASSWORD_X", "FAILOVER_SECRET_PG_PASSWORD_X is not set"},
		"a variable that is not under the prefix":        {"secret", "AWS_REGION", "FAILOVER_SECRET_AWS_REGION is not set"},
		"a name that is a path":                          {"secret", "../etc/passwd", "not a secret name"},
		"a secret file whose name is a credential _FILE": {"secret", "SLACK_BOT_TOKEN_FILE", "one of the bot's own credentials"},
	}
	for name, tt := range refused {
		t.Run(name, func(t *testing.T) {
			var err error
			if tt.kind == "env" {
				var v string
				v, err = r.Env(tt.name, nil)
				if err == nil {
					t.Fatalf("${env:%s} resolved to %q", tt.name, v)
				}
			} else {
				var v Value
				v, err = r.Resolve(tt.name)
				if err == nil {
					t.Fatalf("${secret:%s} resolved to %q", tt.name, v.Reveal())
				}
			}
			if !strings.Contains(err.Error(), tt.name) || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("error %q does not name %s and say %q", err, tt.name, tt.why)
			}
			for _, v := range botEnv {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error shows a value: %v", err)
				}
			}
		})
	}
	for name, tt := range map[string]struct{ kind, name, want string }{
		"an allowed prefix":          {"env", "FAILOVER_RB_DR_ADDR", "10.0.0.7:6379"},
		"an explicitly allowed name": {"env", "AWS_REGION", "eu-west-1"},
		"a mounted secret file":      {"secret", "REDIS_PASSWORD", "redis-pw-789"},
		"a secret under the prefix":  {"secret", "PG_PASSWORD", "pg-pw-456"},
	} {
		t.Run(name, func(t *testing.T) {
			var got string
			var err error
			if tt.kind == "env" {
				got, err = r.Env(tt.name, nil)
			} else {
				var v Value
				v, err = r.Resolve(tt.name)
				got = v.Reveal()
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if !errors.Is(r.CheckRef("env", "SLACK_BOT_TOKEN"), ErrRefused) || r.CheckRef("env", "FAILOVER_RB_X") != nil ||
		!errors.Is(r.CheckRef("secret", "DATABASE_URL"), ErrRefused) || r.CheckRef("secret", "ANY_NAME") != nil {
		t.Error("CheckRef does not say what the policy allows")
	}
}

func TestAPolicyThatWouldExposeACredentialIsInvalid(t *testing.T) {
	creds := map[string]string{"SLACK_BOT_TOKEN": "x", "DATABASE_URL": "y"}
	for name, tt := range map[string]struct {
		p    Policy
		want string
	}{
		"a prefix that matches a token":     {Policy{EnvPrefixes: []string{"SLACK_"}}, `prefix "SLACK_" would expose the bot's credential SLACK_BOT_TOKEN`},
		"an empty prefix":                   {Policy{EnvPrefixes: []string{""}}, `prefix "": must be non-empty`},
		"env and secret prefixes overlap":   {Policy{EnvPrefixes: []string{"FAILOVER_"}}, `overlaps the secret prefix "FAILOVER_SECRET_"`},
		"a credential in the allowed names": {Policy{EnvNames: []string{"DATABASE_URL"}}, "DATABASE_URL is one of the bot's own credentials"},
		"a secret in the allowed names":     {Policy{EnvNames: []string{"FAILOVER_SECRET_X"}}, "use ${secret:X}"},
		"a secret prefix that is a token's": {Policy{SecretPrefix: "SLACK_BOT_"}, `secret environment prefix "SLACK_BOT_" would expose the bot's credential SLACK_BOT_TOKEN`},
	} {
		t.Run(name, func(t *testing.T) {
			tt.p.Credentials = creds
			err := tt.p.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to say %q", err, tt.want)
			}
		})
	}
	if err := (Policy{Credentials: creds, EnvNames: []string{"AWS_REGION"}}).Validate(); err != nil {
		t.Fatalf("the default policy is invalid: %v", err)
	}
}
