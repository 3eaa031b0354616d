package httpcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
)

// Check is a configured http.check step.
type Check struct {
	cfg     CheckConfig
	timeout time.Duration
	re      *regexp.Regexp
	client  *http.Client
	log     *slog.Logger
}

var (
	_ steps.Probe  = (*Check)(nil)
	_ steps.Closer = (*Check)(nil)
)

// New builds an http.check probe from an expanded config; it fills the
// config's defaults and checks it again.
func New(cfg *CheckConfig, log *slog.Logger) (*Check, error) { return Options{}.New(cfg, log) }

// New is New with o's proxy and roots.
func (o Options) New(cfg *CheckConfig, log *slog.Logger) (*Check, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, steps.Permanent(err)
	}
	for name, v := range map[string]string{"url": cfg.URL, "expect": cfg.Expect, "attemptTimeout": cfg.AttemptTimeout, "bodyRegexp": cfg.BodyRegexp} {
		if steps.IsTemplate(v) {
			return nil, steps.Permanentf("http.check: %s still holds an unexpanded template", name)
		}
	}
	c := &Check{cfg: *cfg, log: log}
	c.timeout = steps.ParseDuration(cfg.AttemptTimeout)
	if cfg.BodyRegexp != "" {
		c.re = regexp.MustCompile(cfg.BodyRegexp) // validated
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: c.timeout}
	tr := &http.Transport{
		Proxy:                 o.proxy(),
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   c.timeout,
		ResponseHeaderTimeout: c.timeout,
		DisableKeepAlives:     true,                                                                        // every attempt sees the endpoint afresh
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify, RootCAs: o.RootCAs}, //nolint:gosec // opt-in, lab only
	}
	c.client = &http.Client{
		Transport: tr,
		Timeout:   c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer, not a hop to follow
		},
	}
	return c, nil
}

func (o Options) buildCheck(_ context.Context, cfg *CheckConfig, env steps.Env) (steps.Probe, error) {
	c, err := o.New(cfg, env.Logger)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Check makes one attempt and reports whether the endpoint's state is the
// expected one. Being up when down is expected (and the reverse) is not an
// error: it is "not done", and the executor polls again.
func (c *Check) Check(ctx context.Context) (steps.Result, error) {
	status, reason := c.attempt(ctx)
	if err := ctx.Err(); err != nil {
		return steps.Result{}, fmt.Errorf("http.check %s: %w", c.target(), context.Cause(ctx))
	}
	state := ExpectUp
	if reason != "" {
		state = ExpectDown
	}
	out := map[string]string{"state": state, "status": ""}
	if status != 0 {
		out["status"] = strconv.Itoa(status)
	}
	summary := fmt.Sprintf("%s %s is up", c.cfg.Method, c.target())
	if state == ExpectDown {
		summary = fmt.Sprintf("%s %s is down: %s", c.cfg.Method, c.target(), reason)
	}
	if state != c.cfg.Expect {
		summary += " (expected " + c.cfg.Expect + ")"
	}
	return steps.Result{Done: state == c.cfg.Expect, Summary: summary, Outputs: out}, nil
}

// Close releases idle connections.
func (c *Check) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

// attempt returns the status (0 when no response) and why the endpoint
// counts as down ("" when up).
func (c *Check) attempt(ctx context.Context) (int, string) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout,
		fmt.Errorf("no answer within the attempt timeout %s", c.timeout))
	defer cancel()
	var body io.Reader
	if c.cfg.Body != "" {
		body = strings.NewReader(c.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.cfg.URL, body)
	if err != nil {
		return 0, "bad request: " + scrub(err.Error(), c.cfg.URL)
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && errors.Is(err, context.DeadlineExceeded) {
			return 0, cause.Error()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, fmt.Sprintf("no answer within the attempt timeout %s", c.timeout)
		}
		return 0, scrub(unwrapURLError(err).Error(), c.cfg.URL)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, fmt.Sprintf("status %d, body unreadable: %s", resp.StatusCode, scrub(unwrapURLError(err).Error(), c.cfg.URL))
	}
	if c.cfg.ExpectStatus != 0 && resp.StatusCode != c.cfg.ExpectStatus {
		return resp.StatusCode, fmt.Sprintf("status %d, want %d", resp.StatusCode, c.cfg.ExpectStatus)
	}
	if c.cfg.ExpectStatus == 0 && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return resp.StatusCode, fmt.Sprintf("status %d, want 2xx", resp.StatusCode)
	}
	if c.cfg.BodyContains != "" && !strings.Contains(string(b), c.cfg.BodyContains) {
		return resp.StatusCode, fmt.Sprintf("body does not contain %q", c.cfg.BodyContains)
	}
	if c.re != nil && !c.re.Match(b) {
		return resp.StatusCode, fmt.Sprintf("body does not match /%s/", c.cfg.BodyRegexp)
	}
	return resp.StatusCode, ""
}

// target is the URL without user info or query (which may carry tokens).
func (c *Check) target() string {
	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return "(unparsable url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// unwrapURLError drops *url.Error's "Get <full url>:" prefix, which would
// repeat the query string.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// scrub removes the full URL (query tokens, user info) from a message.
func scrub(msg, rawURL string) string {
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, "(url)")
	}
	if u, err := url.Parse(rawURL); err == nil {
		if p, ok := u.User.Password(); ok && len(p) > 0 {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
		if u.RawQuery != "" {
			msg = strings.ReplaceAll(msg, u.RawQuery, "[redacted]")
		}
	}
	return msg
}
