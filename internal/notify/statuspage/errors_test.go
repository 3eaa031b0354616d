package statuspage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
	"github.com/failoverbot/failoverbot/internal/secret"
)

// The retry matrix: each HTTP status the API may answer, and whether the
// pipeline's retry loop should try again, and after how long.
func TestRetryMatrix(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	for _, tc := range []struct {
		status     int
		retryAfter string
		retry      bool
		after      time.Duration
	}{
		{400, "", false, 0},
		{401, "", false, 0},
		{403, "", false, 0},
		{404, "", false, 0},
		{409, "", false, 0},
		{422, "", false, 0},
		{420, "7", true, 7 * time.Second},
		{420, "", true, time.Second},
		{429, "30", true, 30 * time.Second},
		{429, "", true, time.Second},
		{429, "86400", true, statuspage.MaxRetryAfter},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", true, time.Second}, // a date in the past: no wait given
		{500, "", true, 0},
		{502, "", true, 0},
		{503, "120", true, 2 * time.Minute},
		{504, "", true, 0},
	} {
		t.Run(fmt.Sprintf("%d retry-after %q", tc.status, tc.retryAfter), func(t *testing.T) {
			c := newClient(t, f, nil) // a fresh client: a 420/429 holds its next call back
			f.Fail(1, statuspagefake.Fault{Status: tc.status, RetryAfter: tc.retryAfter})
			_, err := c.UpdateComponent(ctxT(t), page, "cmpdb", statuspage.Operational)
			e := asError(t, err)
			if e.StatusCode != tc.status || e.Retryable() != tc.retry || e.RetryAfter != tc.after {
				t.Errorf("%v: status %d retryable %v after %s, want %d %v %s", err, e.StatusCode, e.Retryable(), e.RetryAfter,
					tc.status, tc.retry, tc.after)
			}
			if retry, after := statuspage.Retryable(err); retry != tc.retry || after != tc.after {
				t.Errorf("Retryable(err) = %v, %s", retry, after)
			}
			if statuspage.RetryableStatus(tc.status) != tc.retry {
				t.Errorf("RetryableStatus(%d) = %v", tc.status, !tc.retry)
			}
		})
	}
}

// What the fake itself refuses (not injected) is not worth retrying, and
// the error says why.
func TestTheAPIsOwnRefusalsAreNotRetried(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	other := newClient(t, f, func(o *statuspage.Options) { o.APIKey = "not-a-valid-key-1234" })
	ctx := ctxT(t)
	for _, tc := range []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"a wrong key", func() error { _, err := other.GetComponent(ctx, page, "cmpdb"); return err }, 401, "Could not authenticate"},
		{"an unknown incident", func() error { _, err := c.GetIncident(ctx, page, "nope"); return err }, 404, "could not be found"},
		{"an unknown page", func() error { _, err := c.GetComponent(ctx, "nopage", "cmpdb"); return err }, 404, "could not be found"},
		{"a component not on the page", func() error {
			_, err := c.CreateIncident(ctx, page, statuspage.IncidentFields{Name: "x", Status: statuspage.Investigating,
				Components: map[string]statuspage.ComponentStatus{"cmpgone": statuspage.MajorOutage}})
			return err
		}, 422, "Component cmpgone not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e := asError(t, err)
			if e.StatusCode != tc.status || e.Retryable() || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%v: want HTTP %d, not retryable, saying %q", err, tc.status, tc.msg)
			}
		})
	}
}

// A 2xx whose body does not decode may have made the change: not retried.
func TestAnUndecodableSuccessIsNotRetried(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	f.Fail(1, statuspagefake.Fault{Status: 201, Body: "<html>ok</html>"})
	_, err := c.CreateIncident(ctxT(t), page, statuspage.IncidentFields{Name: "x", Status: statuspage.Investigating})
	if e := asError(t, err); e.StatusCode != 201 || e.Retryable() || !strings.Contains(err.Error(), "decode answer") {
		t.Errorf("%v: want a non-retryable decode error", err)
	}
}

// No answer at all is retryable: a refused connection, a peer that never
// answers (the per-call timeout fires and says so), the caller's deadline.
func TestNoAnswerIsRetryable(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		f := statuspagefake.New(statuspagefake.Options{})
		url := f.URL()
		f.Close()
		c, err := statuspage.New(statuspage.Options{BaseURL: url, APIKey: statuspagefake.APIKey})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.GetIncident(ctxT(t), page, "inc1")
		if e := asError(t, err); e.StatusCode != 0 || !e.Retryable() || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%v: want a retryable connection refused", err)
		}
	})
	t.Run("a peer that hangs hits the request timeout", func(t *testing.T) {
		f := newFake(t, statuspagefake.Options{})
		c := newClient(t, f, func(o *statuspage.Options) { o.RequestTimeout = 200 * time.Millisecond })
		f.Fail(1, statuspagefake.Fault{Hang: true})
		start := time.Now()
		_, err := c.GetIncident(context.Background(), page, "inc1") // no deadline of the caller's
		if e := asError(t, err); !e.Retryable() || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "no answer within the 200ms request timeout") {
			t.Errorf("%v: want a retryable request timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %s", d)
		}
	})
	t.Run("the caller's deadline comes first", func(t *testing.T) {
		f := newFake(t, statuspagefake.Options{})
		c := newClient(t, f, nil)
		f.Fail(1, statuspagefake.Fault{Hang: true})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.GetIncident(ctx, page, "inc1")
		if e := asError(t, err); !e.Retryable() || !errors.Is(err, context.DeadlineExceeded) ||
			strings.Contains(err.Error(), "request timeout") {
			t.Errorf("%v: want the caller's deadline", err)
		}
	})
}

func TestBadInputIsRefusedBeforeSending(t *testing.T) {
	f := newFake(t, statuspagefake.Options{})
	c := newClient(t, f, nil)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"an incident without a name", "name is required", func() error {
			_, err := c.CreateIncident(ctx, page, statuspage.IncidentFields{Status: statuspage.Investigating})
			return err
		}},
		{"an incident without a status", `status ""`, func() error {
			_, err := c.CreateIncident(ctx, page, statuspage.IncidentFields{Name: "x"})
			return err
		}},
		{"a scheduled-maintenance status", `status "scheduled"`, func() error {
			_, err := c.UpdateIncident(ctx, page, "inc1", statuspage.IncidentFields{Status: "scheduled"})
			return err
		}},
		{"a bad component status", `components[cmpdb]: status "down"`, func() error {
			_, err := c.UpdateIncident(ctx, page, "inc1", statuspage.IncidentFields{
				Components: map[string]statuspage.ComponentStatus{"cmpdb": "down"}})
			return err
		}},
		{"a bad impact", `impact_override "huge"`, func() error {
			_, err := c.UpdateIncident(ctx, page, "inc1", statuspage.IncidentFields{ImpactOverride: "huge"})
			return err
		}},
		{"an empty page ID", "empty page", func() error {
			_, err := c.UpdateComponent(ctx, "", "cmpdb", statuspage.Operational)
			return err
		}},
		{"an empty incident ID", "empty page, incident", func() error {
			_, err := c.GetIncident(ctx, page, " ")
			return err
		}},
		{"a bad status for a component", `status "fine"`, func() error {
			_, err := c.UpdateComponent(ctx, page, "cmpdb", "fine")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if e := asError(t, err); e.Retryable() || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: want a non-retryable error saying %q", err, tc.want)
			}
		})
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("%d requests sent for bad input", n)
	}
}

func TestNewChecksItsOptions(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		o          statuspage.Options
	}{
		{"no key", "api_key is required", statuspage.Options{}},
		{"a key with a newline", "whitespace", statuspage.Options{APIKey: "abcdefgh\r\nX-Evil: 1"}},
		{"a short key", "too short", statuspage.Options{APIKey: "abc"}},
		{"a base URL without scheme", "base_url", statuspage.Options{APIKey: statuspagefake.APIKey, BaseURL: "api.statuspage.io/v1"}},
		{"a negative timeout", "request_timeout", statuspage.Options{APIKey: statuspagefake.APIKey, RequestTimeout: -time.Second}},
		{"a negative rate", "rate", statuspage.Options{APIKey: statuspagefake.APIKey, Rate: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := statuspage.New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %q", err, tc.want)
			}
		})
	}
	if _, err := statuspage.New(statuspage.Options{APIKey: statuspagefake.APIKey}); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// The key reaches the API and nothing else: not an error (even when the
// API echoes it back), not a debug log line, not the client printed.
func TestTheAPIKeyNeverLeaks(t *testing.T) {
	const key = "sp-leak-test-key-7f3a9c1e"
	f := newFake(t, statuspagefake.Options{})
	f.AddKey(key)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newClient(t, f, func(o *statuspage.Options) {
		o.APIKey = secret.Value(key)
		o.Logger = log
		o.RequestTimeout = 200 * time.Millisecond
	})
	ctx := ctxT(t)
	var errs []error
	record := func(_ any, err error) {
		if err == nil {
			t.Error("a failure was expected")
		}
		errs = append(errs, err)
	}
	f.Fail(1, statuspagefake.Fault{Status: 401, Body: `{"error":"key ` + key + ` is revoked"}`})
	record(c.GetComponent(ctx, page, "cmpdb"))
	f.Fail(1, statuspagefake.Fault{Status: 500, Body: "upstream said Authorization: OAuth " + key})
	record(c.GetComponent(ctx, page, "cmpdb"))
	f.Fail(1, statuspagefake.Fault{Hang: true})
	record(c.GetComponent(ctx, page, "cmpdb"))
	record(c.GetIncident(ctx, page, "missing"))
	if _, err := c.UpdateComponent(ctx, page, "cmpdb", statuspage.MajorOutage); err != nil {
		t.Fatal(err)
	}
	reqs := f.Requests()
	if !reqs[len(reqs)-1].Authorized {
		t.Fatal("the key was not sent: the test would prove nothing")
	}
	var out []string
	for _, err := range errs {
		out = append(out, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	}
	out = append(out, logs.String(), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c))
	for _, s := range out {
		if strings.Contains(s, key) {
			t.Errorf("the key leaked: %s", s)
		}
	}
	if !strings.Contains(errs[0].Error(), "key "+secret.Redacted+" is revoked") {
		t.Errorf("the API's message was not kept (scrubbed): %v", errs[0])
	}
}
