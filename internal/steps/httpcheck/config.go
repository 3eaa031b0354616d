package httpcheck

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Expectations of http.check.
const (
	ExpectUp   = "up"
	ExpectDown = "down"
)

// DefaultAttemptTimeout bounds one attempt (connect, TLS, request, body).
const DefaultAttemptTimeout = "5s"

// maxBody is how much of a response body is read for matching.
const maxBody = 1 << 20

// CheckConfig configures http.check, a read-only probe. One attempt per
// Check: the endpoint is "up" when it answers within attemptTimeout with the
// expected status (default: any 2xx) and body; anything else (refused, hung,
// wrong status or body) is "down". Done when the observed state is expect.
// Outputs: status (the HTTP status, or "" when none), state (up or down).
type CheckConfig struct {
	// URL to request (required; http or https).
	URL string `yaml:"url"`
	// Method (default GET).
	Method string `yaml:"method"`
	// Headers to send; values may hold ${secret:…} (they are never logged).
	Headers map[string]string `yaml:"headers"`
	// Body to send, optional.
	Body string `yaml:"body"`
	// ExpectStatus is the status an up endpoint answers (default: any 2xx).
	ExpectStatus int `yaml:"expectStatus"`
	// BodyContains and BodyRegexp, optional, must match the body when up.
	BodyContains string `yaml:"bodyContains"`
	BodyRegexp   string `yaml:"bodyRegexp"`
	// Expect is up (default) or down.
	Expect string `yaml:"expect"`
	// AttemptTimeout bounds one attempt (default 5s): a connection that
	// accepts and never answers counts as down after it.
	AttemptTimeout string `yaml:"attemptTimeout"`
	// InsecureSkipVerify disables TLS certificate checks (lab only).
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

var _ steps.Config = (*CheckConfig)(nil)

// CheckAndSetDefaults fills defaults and checks every field.
func (c *CheckConfig) CheckAndSetDefaults() error {
	var errs []error
	switch {
	case c.URL == "":
		errs = append(errs, steps.FieldErrorf("url", "is required"))
	case !steps.IsTemplate(c.URL):
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, steps.FieldErrorf("url", "must be an http:// or https:// URL, got %q", c.URL))
		}
	}
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	c.Method = strings.ToUpper(c.Method)
	switch c.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		errs = append(errs, steps.FieldErrorf("method", "unknown HTTP method %q", c.Method))
	}
	if c.ExpectStatus != 0 && (c.ExpectStatus < 100 || c.ExpectStatus > 599) {
		errs = append(errs, steps.FieldErrorf("expectStatus", "is not an HTTP status: %d", c.ExpectStatus))
	}
	if c.BodyRegexp != "" && !steps.IsTemplate(c.BodyRegexp) {
		if _, err := regexp.Compile(c.BodyRegexp); err != nil {
			errs = append(errs, steps.FieldErrorf("bodyRegexp", "is not a regular expression: %v", err))
		}
	}
	if c.Expect == "" {
		c.Expect = ExpectUp
	}
	if c.Expect != ExpectUp && c.Expect != ExpectDown && !steps.IsTemplate(c.Expect) {
		errs = append(errs, steps.FieldErrorf("expect", "must be up or down, got %q", c.Expect))
	}
	if c.AttemptTimeout == "" {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if steps.CheckDuration(c.AttemptTimeout, time.Nanosecond) != steps.DurationOK {
		errs = append(errs, steps.FieldErrorf("attemptTimeout", "must be a positive duration (like 5s), got %q", c.AttemptTimeout))
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			errs = append(errs, steps.FieldErrorf("headers", "invalid header name %q", k))
		}
	}
	return errors.Join(errs...)
}
