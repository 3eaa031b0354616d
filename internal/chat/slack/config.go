// Package slack is the Slack adapter: it runs a socket-mode connection
// (github.com/slack-go/slack), turns slash commands, reactions and button
// presses into chat.Request, chat.Reaction and chat.Action values for a
// chat.Handler, and renders chat.Message values as Block Kit. It is the
// only package that imports slack-go.
package slack

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvAppToken     = "SLACK_APP_TOKEN"
	EnvAppTokenFile = "SLACK_APP_TOKEN_FILE"
	EnvBotToken     = "SLACK_BOT_TOKEN"
	EnvBotTokenFile = "SLACK_BOT_TOKEN_FILE"
	EnvAPIURL       = "SLACK_API_URL"
)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// Config configures the Slack adapter. Zero durations and sizes take the
// defaults set by CheckAndSetDefaults.
type Config struct {
	// AppToken is the app-level token (xapp-…, scope connections:write).
	AppToken secret.Value
	// BotToken is the bot token (xoxb-…).
	BotToken secret.Value
	// APIURL is the Web API base; it must end in "/".
	APIURL string
	// Workers is the size of the pool that runs handlers (default 8).
	Workers int
	// QueueSize bounds the work waiting for a worker (default 1024).
	QueueSize int
	// PingInterval: with no PING from Slack for this long the socket is
	// reopened (default 30s).
	PingInterval time.Duration
	// CallTimeout is the deadline of one Web API call attempt (default 10s).
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one Web API call on rate limits and
	// server errors (default 5).
	MaxAttempts int
	// UpdateInterval is the least time between two chat.update calls in one
	// channel (default 1s).
	UpdateInterval time.Duration
	// DedupeTTL is how long an event_id is remembered (default 10m; Slack
	// redelivers for about 5 minutes).
	DedupeTTL time.Duration
	// DedupeSize bounds the remembered event IDs (default 10000).
	DedupeSize int
	// UserCacheTTL is how long users.info answers are cached (default 10m).
	UserCacheTTL time.Duration
	// JobTimeout bounds one handler call (default 10m).
	JobTimeout time.Duration
	// ShutdownTimeout bounds the draining of in-flight work (default 30s).
	ShutdownTimeout time.Duration
}

// ConfigFromEnv reads the tokens and the API URL from the environment
// (getenv is os.Getenv in production). Each token comes from its variable or
// from the file its _FILE variable names, not both.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	app, err := tokenFromEnv(getenv, EnvAppToken, EnvAppTokenFile)
	errs = append(errs, err)
	bot, err := tokenFromEnv(getenv, EnvBotToken, EnvBotTokenFile)
	errs = append(errs, err)
	c.AppToken, c.BotToken = app, bot
	c.APIURL = getenv(EnvAPIURL)
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, c.CheckAndSetDefaults()
}

func tokenFromEnv(getenv func(string) string, name, fileVar string) (secret.Value, error) {
	v, file := getenv(name), getenv(fileVar)
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("slack: set at most one of %s and %s", name, fileVar)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("slack: read %s (%s): %w", fileVar, file, err)
		}
		return secret.Value(strings.TrimSpace(string(b))), nil
	case v != "":
		return secret.Value(strings.TrimSpace(v)), nil
	default:
		return "", fmt.Errorf("slack: %s (or %s) is required", name, fileVar)
	}
}

// CheckAndSetDefaults validates c and fills in defaults. Errors name the
// field and never contain a token.
func (c *Config) CheckAndSetDefaults() error {
	var errs []error
	switch tok := c.AppToken.Reveal(); {
	case tok == "":
		errs = append(errs, fmt.Errorf("slack: app token (%s) is required", EnvAppToken))
	case !strings.HasPrefix(tok, "xapp-"):
		errs = append(errs, fmt.Errorf("slack: app token (%s) must be an app-level token starting with xapp-", EnvAppToken))
	}
	switch tok := c.BotToken.Reveal(); {
	case tok == "":
		errs = append(errs, fmt.Errorf("slack: bot token (%s) is required", EnvBotToken))
	case !strings.HasPrefix(tok, "xoxb-"):
		errs = append(errs, fmt.Errorf("slack: bot token (%s) must be a bot token starting with xoxb-", EnvBotToken))
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		errs = append(errs, fmt.Errorf("slack: API URL (%s) %q must end in /", EnvAPIURL, c.APIURL))
	} else if !strings.HasPrefix(c.APIURL, "https://") && !strings.HasPrefix(c.APIURL, "http://") {
		errs = append(errs, fmt.Errorf("slack: API URL (%s) %q must be an http(s) URL", EnvAPIURL, c.APIURL))
	}
	for _, f := range []struct {
		name string
		n    *int
		def  int
	}{{"Workers", &c.Workers, 8}, {"QueueSize", &c.QueueSize, 1024}, {"MaxAttempts", &c.MaxAttempts, 5},
		{"DedupeSize", &c.DedupeSize, 10000}} {
		if *f.n < 0 {
			errs = append(errs, fmt.Errorf("slack: %s must not be negative", f.name))
		} else if *f.n == 0 {
			*f.n = f.def
		}
	}
	for _, f := range []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{{"PingInterval", &c.PingInterval, 30 * time.Second}, {"CallTimeout", &c.CallTimeout, 10 * time.Second},
		{"UpdateInterval", &c.UpdateInterval, time.Second}, {"DedupeTTL", &c.DedupeTTL, 10 * time.Minute},
		{"UserCacheTTL", &c.UserCacheTTL, 10 * time.Minute}, {"ShutdownTimeout", &c.ShutdownTimeout, 30 * time.Second},
		{"JobTimeout", &c.JobTimeout, 10 * time.Minute}} {
		if *f.d < 0 {
			errs = append(errs, fmt.Errorf("slack: %s must not be negative", f.name))
		} else if *f.d == 0 {
			*f.d = f.def
		}
	}
	return errors.Join(errs...)
}
