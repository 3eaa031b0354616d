package statuspage_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/failoverbot/failoverbot/internal/notify/statuspage"
	"github.com/failoverbot/failoverbot/internal/notify/statuspage/statuspagefake"
)

// These tests run in a synctest bubble against the in-process fake: the
// client's limiter, its Retry-After hold and the fake's rate limit all see
// the same fake clock, so that "1 request/s" is checked exactly and fast.

func inProcess(t *testing.T, opts statuspagefake.Options, mod func(*statuspage.Options)) (*statuspagefake.Server, *statuspage.Client) {
	t.Helper()
	f := statuspagefake.NewInProcess(opts)
	t.Cleanup(f.Close)
	seed(f)
	o := statuspage.Options{BaseURL: f.URL(), APIKey: statuspagefake.APIKey, HTTPClient: f.HTTPClient()}
	if mod != nil {
		mod(&o)
	}
	c, err := statuspage.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// Five calls in a row against the real limit (1 request/s, no burst): the
// client spaces them 1.1s apart (a margin for network jitter) and the fake
// rejects none.
func TestTheClientKeepsToOneRequestPerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := inProcess(t, statuspagefake.Options{}, nil)
		start := time.Now()
		for i, st := range []statuspage.ComponentStatus{"major_outage", "partial_outage", "degraded_performance", "operational", "major_outage"} {
			if _, err := c.UpdateComponent(context.Background(), page, "cmpdb", st); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if d := time.Since(start); d != 4400*time.Millisecond {
			t.Errorf("5 calls took %s, want 4.4s", d)
		}
		for _, r := range f.Requests() {
			if r.Status != 200 {
				t.Errorf("%s %s answered %d", r.Method, r.Path, r.Status)
			}
		}
	})
}

// Without the client's limiter the fake enforces the limit itself, with
// the status configured and a Retry-After.
func TestTheFakeRateLimitsEachKey(t *testing.T) {
	for _, status := range []int{429, 420} {
		synctest.Test(t, func(t *testing.T) {
			f, c := inProcess(t, statuspagefake.Options{RateLimitStatus: status},
				func(o *statuspage.Options) { o.Rate = rate.Inf })
			const otherKey = "another-statuspage-key-42"
			f.AddKey(otherKey)
			other, err := statuspage.New(statuspage.Options{BaseURL: f.URL(), APIKey: otherKey, HTTPClient: f.HTTPClient(), Rate: rate.Inf})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.GetComponent(ctx, page, "cmpdb"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(400 * time.Millisecond)
			_, err = c.GetComponent(ctx, page, "cmpdb")
			if e := asError(t, err); e.StatusCode != status || !e.Retryable() || e.RetryAfter != time.Second {
				t.Fatalf("second call within the second: %v, want %d with Retry-After 1s", err, status)
			}
			if _, err := other.GetComponent(ctx, page, "cmpdb"); err != nil {
				t.Errorf("another key has its own limit: %v", err)
			}
		})
	}
}

// After a 429 with Retry-After the client holds its next call back until
// it has run out; a call whose deadline comes first fails at once,
// retryable, without being sent.
func TestRetryAfterHoldsTheNextCallBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := inProcess(t, statuspagefake.Options{}, nil)
		f.Fail(1, statuspagefake.Fault{Status: 429, RetryAfter: "5"})
		start := time.Now()
		_, err := c.GetComponent(context.Background(), page, "cmpdb")
		if e := asError(t, err); e.StatusCode != 429 || e.RetryAfter != 5*time.Second {
			t.Fatalf("first call: %v", err)
		}

		short, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.GetComponent(short, page, "cmpdb")
		e := asError(t, err)
		if !errors.Is(err, statuspage.ErrRetryAfterPending) || !e.Retryable() || e.RetryAfter != 5*time.Second || time.Since(start) != 0 {
			t.Fatalf("call with a 2s deadline: %v after %s, want an immediate retryable refusal", err, time.Since(start))
		}
		if n := len(f.Requests()); n != 1 {
			t.Fatalf("%d requests sent, want 1", n)
		}

		if _, err := c.GetComponent(context.Background(), page, "cmpdb"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("the next call went after %s, want 5s", d)
		}
	})
}

// A 420 without Retry-After holds the next call back for a second (the
// limit's own window).
func TestA420WithoutRetryAfterHoldsOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := inProcess(t, statuspagefake.Options{}, func(o *statuspage.Options) { o.Rate = rate.Inf })
		f.Fail(1, statuspagefake.Fault{Status: 420})
		start := time.Now()
		if _, err := c.GetComponent(context.Background(), page, "cmpdb"); err == nil {
			t.Fatal("420 not reported")
		}
		if _, err := c.GetComponent(context.Background(), page, "cmpdb"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("the next call went after %s, want 1s", d)
		}
	})
}

// A call under a deadline that the limiter cannot meet is refused at once.
func TestTheLimiterRefusesAWaitPastTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c := inProcess(t, statuspagefake.Options{}, nil)
		if _, err := c.GetComponent(context.Background(), page, "cmpdb"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.GetComponent(ctx, page, "cmpdb")
		if e := asError(t, err); !e.Retryable() || time.Since(start) != 0 {
			t.Errorf("%v after %s: want an immediate retryable refusal", err, time.Since(start))
		}
	})
}

// A hanging API is given up on at the per-call timeout, in fake time.
func TestEveryCallHasATimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, c := inProcess(t, statuspagefake.Options{}, nil)
		f.Fail(1, statuspagefake.Fault{Hang: true})
		start := time.Now()
		_, err := c.GetIncident(context.Background(), page, "inc1")
		if d := time.Since(start); d != statuspage.DefaultRequestTimeout || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%v after %s, want the %s request timeout", err, d, statuspage.DefaultRequestTimeout)
		}
	})
}
