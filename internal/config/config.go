// Package config loads the bot's configuration: defaults first, then an
// optional YAML file (strictly decoded), then the environment, then flags;
// the result is validated with messages that name the field.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// Config is the bot's validated configuration.
type Config struct {
	// RunbookDir holds the runbooks (*.yaml).
	RunbookDir string `yaml:"runbookDir"`
	// Connections, if set, is a connections overlay file applied to every
	// runbook (runbook.Overlay: the lab's clusters for a drill); plans show
	// it and their hash covers it.
	Connections string `yaml:"connections"`
	// StorePath is the embedded SQLite file, used when DatabaseURL is empty.
	StorePath string `yaml:"storePath"`
	// DatabaseURL selects the PostgreSQL store (env DATABASE_URL). It may
	// hold a password: it is never printed.
	DatabaseURL string `yaml:"-"`
	// SecretsDir is a directory of files named after secrets (a mounted
	// Kubernetes secret); secrets are also read from the environment.
	SecretsDir string `yaml:"secretsDir"`
	// Instance identifies this bot process for run leases; keep it stable
	// across restarts of one deployment (the pod name) so that a restarted
	// bot takes its runs back at once.
	Instance string `yaml:"instance"`
	// LeaseTTL is how long a run stays owned by an instance that stopped
	// renewing it before another instance may take it over.
	LeaseTTL time.Duration `yaml:"leaseTTL"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"logLevel"`
	// LogFormat is text or json (env FAILOVER_LOG_FORMAT).
	LogFormat string `yaml:"logFormat"`
	// ExpirySweep is how often the leader closes the approval requests
	// past their expiry (env FAILOVER_EXPIRY_SWEEP; default 30s).
	ExpirySweep time.Duration `yaml:"expirySweep"`
	// Responders may start runs and use the run controls.
	Responders Access `yaml:"responders"`
	// Groups are static user groups (for the console, or to complement
	// the chat's own groups): group name → user names.
	Groups map[string][]string `yaml:"groups"`
	// ApproveEmoji and RejectEmoji are the reactions that approve/reject.
	ApproveEmoji string `yaml:"approveEmoji"`
	RejectEmoji  string `yaml:"rejectEmoji"`
	// RunbookEnv says which environment variables runbooks may read.
	RunbookEnv RunbookEnv `yaml:"runbookEnv"`
	// Credentials are the bot's own credentials (CredentialVars) as read
	// from the environment, "" when unset: never resolvable by a runbook,
	// and registered with the redactor at start.
	Credentials map[string]string `yaml:"-"`
}

// RunbookEnv is what a runbook's ${env:NAME} and ${secret:NAME} may read
// from the environment.
type RunbookEnv struct {
	// Prefixes of the variables ${env:NAME} may read (default
	// [FAILOVER_RB_]; env FAILOVER_RUNBOOK_ENV_PREFIXES, comma-separated).
	Prefixes []string `yaml:"prefixes"`
	// Names are further variables ${env:NAME} may read (env
	// FAILOVER_RUNBOOK_ENV_NAMES, comma-separated).
	Names []string `yaml:"names"`
	// SecretPrefix: ${secret:NAME} not found in the secrets directory is
	// read from the variable SecretPrefix+NAME (default FAILOVER_SECRET_;
	// env FAILOVER_SECRETS_ENV_PREFIX).
	SecretPrefix string `yaml:"secretPrefix"`
}

// CredentialVars are the environment variables that hold the bot's own
// credentials (each also as NAME_FILE, a file holding it): the Slack
// tokens, the store's URL, the notifiers' tokens.
var CredentialVars = []string{
	"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL",
	"PAGERDUTY_TOKEN", "PAGERDUTY_ROUTING_KEY", "STATUSPAGE_API_KEY",
	// FAILOVER_PLAN_KEY keys the digest that binds a run's plan to what
	// its connections resolve to (hex or any text); without it the store
	// keeps a random one.
	"FAILOVER_PLAN_KEY",
}

// Policy is the secret.Policy of the configuration: what runbooks may read.
func (c Config) Policy() secret.Policy {
	creds := map[string]string{}
	for _, n := range CredentialVars {
		creds[n] = ""
	}
	for n, v := range c.Credentials {
		creds[n] = v
	}
	if c.DatabaseURL != "" {
		creds["DATABASE_URL"] = c.DatabaseURL
	}
	return secret.Policy{EnvPrefixes: c.RunbookEnv.Prefixes, EnvNames: c.RunbookEnv.Names,
		SecretPrefix: c.RunbookEnv.SecretPrefix, Credentials: creds}
}

// credentials reads CredentialVars (and their _FILE forms) from the
// environment. A _FILE that cannot be read is left out: whoever uses the
// credential reports it.
func credentials(getenv func(string) string) map[string]string {
	out := map[string]string{}
	for _, n := range CredentialVars {
		v := getenv(n)
		if f := getenv(n + "_FILE"); v == "" && f != "" {
			if b, err := os.ReadFile(f); err == nil {
				v = strings.TrimSpace(string(b))
			}
		}
		out[n] = v
	}
	return out
}

func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// Access lists who may do something.
type Access struct {
	Groups []string `yaml:"groups"`
	Users  []string `yaml:"users"`
}

// Default returns the defaults.
func Default() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "bot"
	}
	return Config{
		RunbookDir:   "runbooks",
		StorePath:    "failover.db",
		Instance:     host,
		LeaseTTL:     30 * time.Second,
		ExpirySweep:  30 * time.Second,
		LogLevel:     "info",
		LogFormat:    "text",
		Responders:   Access{Groups: []string{"oncall"}},
		Groups:       map[string][]string{"oncall": {"oncall-1", "oncall-2", "oncall-3"}},
		ApproveEmoji: "white_check_mark",
		RejectEmoji:  "x",
		RunbookEnv:   RunbookEnv{Prefixes: []string{secret.DefaultEnvPrefix}, SecretPrefix: secret.DefaultSecretPrefix},
	}
}

// envVars maps environment variables onto fields.
var envVars = []struct {
	name string
	set  func(c *Config, v string) error
}{
	{"FAILOVER_RUNBOOK_DIR", func(c *Config, v string) error { c.RunbookDir = v; return nil }},
	{"FAILOVER_CONNECTIONS", func(c *Config, v string) error { c.Connections = v; return nil }},
	{"FAILOVER_STORE_PATH", func(c *Config, v string) error { c.StorePath = v; return nil }},
	{"DATABASE_URL", func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{"FAILOVER_SECRETS_DIR", func(c *Config, v string) error { c.SecretsDir = v; return nil }},
	{"FAILOVER_INSTANCE", func(c *Config, v string) error { c.Instance = v; return nil }},
	{"FAILOVER_LOG_LEVEL", func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"FAILOVER_LOG_FORMAT", func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{"FAILOVER_EXPIRY_SWEEP", func(c *Config, v string) (err error) {
		c.ExpirySweep, err = time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("FAILOVER_EXPIRY_SWEEP: %q is not a duration (e.g. 30s)", v)
		}
		return nil
	}},
	{"FAILOVER_RUNBOOK_ENV_PREFIXES", func(c *Config, v string) error { c.RunbookEnv.Prefixes = splitList(v); return nil }},
	{"FAILOVER_RUNBOOK_ENV_NAMES", func(c *Config, v string) error { c.RunbookEnv.Names = splitList(v); return nil }},
	{"FAILOVER_SECRETS_ENV_PREFIX", func(c *Config, v string) error { c.RunbookEnv.SecretPrefix = v; return nil }},
	{"FAILOVER_LEASE_TTL", func(c *Config, v string) (err error) {
		c.LeaseTTL, err = time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("FAILOVER_LEASE_TTL: %q is not a duration (e.g. 30s)", v)
		}
		return nil
	}},
}

// Flags registers the common flags on fs and returns a function that
// loads the configuration once fs has been parsed: defaults, the file named
// by -config (if any), the environment, then the flags set explicitly.
func Flags(fs *flag.FlagSet, getenv func(string) string) func() (Config, error) {
	file := fs.String("config", getenv("FAILOVER_CONFIG"), "optional YAML configuration file (env FAILOVER_CONFIG)")
	def := Default()
	runbooks := fs.String("runbooks", def.RunbookDir, "directory of runbooks (env FAILOVER_RUNBOOK_DIR)")
	conns := fs.String("connections", "", "connections overlay file applied to every runbook, e.g. runbooks/overlays/lab.yaml (env FAILOVER_CONNECTIONS)")
	storePath := fs.String("store", def.StorePath, "SQLite store file, used unless DATABASE_URL is set (env FAILOVER_STORE_PATH)")
	secrets := fs.String("secrets-dir", "", "directory of secret files (env FAILOVER_SECRETS_DIR)")
	instance := fs.String("instance", def.Instance, "instance name for run leases (env FAILOVER_INSTANCE)")
	logLevel := fs.String("log-level", def.LogLevel, "debug, info, warn or error (env FAILOVER_LOG_LEVEL)")
	return func() (Config, error) {
		c := Default()
		if *file != "" {
			if err := c.loadFile(*file); err != nil {
				return Config{}, err
			}
		}
		c.Credentials = credentials(getenv)
		var errs []error
		for _, e := range envVars {
			if v := getenv(e.name); v != "" {
				errs = append(errs, e.set(&c, v))
			}
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "runbooks":
				c.RunbookDir = *runbooks
			case "connections":
				c.Connections = *conns
			case "store":
				c.StorePath = *storePath
			case "secrets-dir":
				c.SecretsDir = *secrets
			case "instance":
				c.Instance = *instance
			case "log-level":
				c.LogLevel = *logLevel
			}
		})
		if err := errors.Join(errs...); err != nil {
			return Config{}, err
		}
		return c, c.Validate()
	}
}

func (c *Config) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.RunbookDir == "" {
		bad("runbookDir", "must not be empty")
	} else if st, err := os.Stat(c.RunbookDir); err != nil || !st.IsDir() {
		bad("runbookDir", "%q is not a directory", c.RunbookDir)
	}
	if c.Connections != "" {
		if st, err := os.Stat(c.Connections); err != nil || st.IsDir() {
			bad("connections", "%q is not a readable file", c.Connections)
		}
	}
	if c.DatabaseURL == "" && c.StorePath == "" {
		bad("storePath", "must not be empty when DATABASE_URL is not set")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if c.SecretsDir != "" {
		if st, err := os.Stat(c.SecretsDir); err != nil || !st.IsDir() {
			bad("secretsDir", "%q is not a directory", c.SecretsDir)
		}
	}
	if c.Instance == "" {
		bad("instance", "must not be empty")
	}
	if c.LeaseTTL < time.Second {
		bad("leaseTTL", "must be at least 1s, got %s", c.LeaseTTL)
	}
	if c.ExpirySweep < 100*time.Millisecond {
		bad("expirySweep", "must be at least 100ms, got %s", c.ExpirySweep)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("logLevel", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("logFormat", "must be text or json, got %q", c.LogFormat)
	}
	if c.ApproveEmoji == "" || c.RejectEmoji == "" || c.ApproveEmoji == c.RejectEmoji {
		bad("approveEmoji/rejectEmoji", "must be set and different")
	}
	if err := c.Policy().Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			bad("runbookEnv", "%s", e)
		}
	}
	return errors.Join(errs...)
}
