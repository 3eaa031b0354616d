// Package statuspage is a small typed client for the Atlassian Statuspage v1
// REST API, the calls a failover needs: create an incident, update it
// (status, a new update entry, component states), set a component's state,
// and read both back. No maintained Go client exists; this one is plain
// net/http.
//
// Every call runs under the caller's ctx and under a per-call timeout. The
// client keeps to the API's limit of 1 request/s per token with a limiter of
// its own, and it does not retry: a failed call returns an *Error that says
// whether it is worth retrying and after how long, for the one retry loop of
// the notification pipeline. When the API answers 420 or 429 with
// Retry-After, the client also holds its next call back until Retry-After
// has run out (or fails it at once, retryable, when the caller's deadline
// comes first), so that a caller retrying sooner cannot make it worse.
//
// The API key never appears in an error or a log line: errors carry the
// API's message with the key scrubbed out, and the key is a secret.Value.
package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/failoverbot/failoverbot/internal/secret"
)

// Defaults of Options.
const (
	DefaultBaseURL        = "https://api.statuspage.io/v1"
	DefaultRequestTimeout = 10 * time.Second
	// DefaultRate keeps just under the API's limit of 1 request/s per
	// token: one request every 1.1s, so that network jitter between two
	// requests sent 1s apart does not make the API refuse the second.
	DefaultRate = rate.Limit(1 / 1.1)
)

// maxBody bounds how much of an answer is read.
const maxBody = 1 << 20

// Options configures a Client. APIKey is required.
type Options struct {
	// BaseURL is the API root, up to and including /v1 (default
	// DefaultBaseURL); tests point it at statuspagefake.
	BaseURL string
	// APIKey is the OAuth key sent as "Authorization: OAuth <key>".
	APIKey secret.Value
	// HTTPClient sends the requests (default: a client of its own with no
	// timeout of its own: RequestTimeout and ctx bound every call).
	HTTPClient *http.Client
	// RequestTimeout bounds each call from send to the end of the answer
	// (default 10s); the caller's ctx deadline applies too.
	RequestTimeout time.Duration
	// Rate and Burst set the client's limiter (default DefaultRate, burst
	// 1: just under the API's limit per token). rate.Inf turns it off.
	Rate  rate.Limit
	Burst int
	// Logger gets one debug line per call (op, status, duration).
	Logger *slog.Logger
}

// Client calls the Statuspage API. It is safe for concurrent use; calls
// through one Client share its limiter, so use one Client per key.
type Client struct {
	base string
	// auth returns the Authorization header; a func, so that printing a
	// Client (fmt reads unexported fields without their String methods)
	// shows no key.
	auth    func() string
	red     *secret.Redactor
	hc      *http.Client
	timeout time.Duration
	lim     *rate.Limiter
	log     *slog.Logger

	mu        sync.Mutex
	notBefore time.Time // from the last 420/429's Retry-After
}

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("statuspage: base_url %q: want an http(s) URL such as %s", opts.BaseURL, DefaultBaseURL)
	}
	key := opts.APIKey.Reveal()
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("statuspage: api_key is required")
	}
	if strings.ContainsAny(key, "\r\n\t ") {
		return nil, errors.New("statuspage: api_key contains whitespace")
	}
	if len(key) < 8 {
		return nil, errors.New("statuspage: api_key is too short to be a Statuspage key")
	}
	if opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("statuspage: request_timeout %s is negative", opts.RequestTimeout)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Rate < 0 || opts.Burst < 0 {
		return nil, errors.New("statuspage: rate and burst must not be negative")
	}
	if opts.Rate == 0 {
		opts.Rate = DefaultRate
	}
	if opts.Burst == 0 {
		opts.Burst = 1
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	red := &secret.Redactor{}
	red.Add(key)
	return &Client{
		base:    strings.TrimRight(opts.BaseURL, "/"),
		auth:    func() string { return "OAuth " + key },
		red:     red,
		hc:      opts.HTTPClient,
		timeout: opts.RequestTimeout,
		lim:     rate.NewLimiter(opts.Rate, opts.Burst),
		log:     opts.Logger,
	}, nil
}

// String describes the client without its key.
func (c *Client) String() string { return "statuspage.Client{" + c.base + "}" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// CreateIncident opens an incident on a page (POST /pages/{page}/incidents).
// Name and Status are required.
func (c *Client) CreateIncident(ctx context.Context, pageID string, f IncidentFields) (*Incident, error) {
	const op = "create incident"
	if err := checkIDs(op, pageID); err != nil {
		return nil, err
	}
	if err := f.validate(true); err != nil {
		return nil, refused(op, err)
	}
	var out Incident
	if err := c.do(ctx, op, http.MethodPost, "/pages/"+url.PathEscape(pageID)+"/incidents", f.wire(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateIncident changes an incident (PATCH /pages/{page}/incidents/{id}):
// only the non-zero fields of f; a Body or a new Status adds an update entry.
func (c *Client) UpdateIncident(ctx context.Context, pageID, incidentID string, f IncidentFields) (*Incident, error) {
	op := "update incident " + incidentID
	if err := checkIDs(op, pageID, incidentID); err != nil {
		return nil, err
	}
	if err := f.validate(false); err != nil {
		return nil, refused(op, err)
	}
	var out Incident
	path := "/pages/" + url.PathEscape(pageID) + "/incidents/" + url.PathEscape(incidentID)
	if err := c.do(ctx, op, http.MethodPatch, path, f.wire(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetIncident reads an incident (GET /pages/{page}/incidents/{id}).
func (c *Client) GetIncident(ctx context.Context, pageID, incidentID string) (*Incident, error) {
	op := "get incident " + incidentID
	if err := checkIDs(op, pageID, incidentID); err != nil {
		return nil, err
	}
	var out Incident
	path := "/pages/" + url.PathEscape(pageID) + "/incidents/" + url.PathEscape(incidentID)
	if err := c.do(ctx, op, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateComponent sets a component's state (PATCH /pages/{page}/components/{id}).
func (c *Client) UpdateComponent(ctx context.Context, pageID, componentID string, status ComponentStatus) (*Component, error) {
	op := "update component " + componentID
	if err := checkIDs(op, pageID, componentID); err != nil {
		return nil, err
	}
	if !status.Valid() {
		return nil, refused(op, fmt.Errorf("status %q is not a component status", status))
	}
	var in struct {
		Component struct {
			Status ComponentStatus `json:"status"`
		} `json:"component"`
	}
	in.Component.Status = status
	var out Component
	path := "/pages/" + url.PathEscape(pageID) + "/components/" + url.PathEscape(componentID)
	if err := c.do(ctx, op, http.MethodPatch, path, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetComponent reads a component (GET /pages/{page}/components/{id}).
func (c *Client) GetComponent(ctx context.Context, pageID, componentID string) (*Component, error) {
	op := "get component " + componentID
	if err := checkIDs(op, pageID, componentID); err != nil {
		return nil, err
	}
	var out Component
	path := "/pages/" + url.PathEscape(pageID) + "/components/" + url.PathEscape(componentID)
	if err := c.do(ctx, op, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func checkIDs(op string, ids ...string) error {
	for _, id := range ids {
		if strings.TrimSpace(id) == "" {
			return refused(op, errors.New("empty page, incident or component ID"))
		}
	}
	return nil
}

func refused(op string, err error) *Error {
	return &Error{Op: op, Message: "bad input, not sent", Err: err}
}

// do sends one call: wait for the limiter (and any pending Retry-After),
// then send under the per-call timeout, and turn the answer into out or an
// *Error.
func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	if err := c.wait(ctx, op); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return &Error{Op: op, Message: "encode request", Err: err}
		}
		body = bytes.NewReader(b)
	}
	timeout := fmt.Errorf("no answer within the %s request timeout: %w", c.timeout, context.DeadlineExceeded)
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return &Error{Op: op, Message: "build request", Err: err}
	}
	req.Header.Set("Authorization", c.auth())
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx) // which deadline fired, or the caller's cancel
		}
		c.log.DebugContext(ctx, "statuspage call failed", "op", op, "method", method, "path", path,
			"duration", time.Since(start), "error", c.red.Scrub(err.Error()))
		return &Error{Op: op, Err: c.red.ScrubError(err), retry: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.log.DebugContext(ctx, "statuspage call", "op", op, "method", method, "path", path,
		"status", resp.StatusCode, "duration", time.Since(start))
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		// A 2xx whose body was cut may have taken effect: not retried.
		return &Error{Op: op, StatusCode: resp.StatusCode, Message: "read answer", Err: c.red.ScrubError(err),
			retry: RetryableStatus(resp.StatusCode)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, StatusCode: resp.StatusCode, Message: c.red.Scrub(errorMessage(data)),
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			retry:      RetryableStatus(resp.StatusCode)}
		if resp.StatusCode == StatusRateLimited || resp.StatusCode == http.StatusTooManyRequests {
			if e.RetryAfter <= 0 {
				e.RetryAfter = time.Second
			}
			c.holdUntil(time.Now().Add(e.RetryAfter))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{Op: op, StatusCode: resp.StatusCode, Message: "decode answer", Err: err}
		}
	}
	return nil
}

// wait holds a call back until any pending Retry-After has run out and the
// limiter lets it go. It fails at once when the caller's deadline comes
// first: waiting would only use the time up.
func (c *Client) wait(ctx context.Context, op string) error {
	c.mu.Lock()
	until := c.notBefore
	c.mu.Unlock()
	if d := time.Until(until); d > 0 {
		if dl, ok := ctx.Deadline(); ok && dl.Before(until) {
			return &Error{Op: op, RetryAfter: d, Err: ErrRetryAfterPending, retry: true}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return &Error{Op: op, Message: "waiting out Retry-After", Err: context.Cause(ctx), retry: true}
		}
	}
	if err := c.lim.Wait(ctx); err != nil {
		// The limiter refuses at once a wait that would pass the deadline.
		return &Error{Op: op, Message: "waiting for the rate limiter", Err: err, retry: true}
	}
	return nil
}

func (c *Client) holdUntil(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.notBefore) {
		c.notBefore = t
	}
}
