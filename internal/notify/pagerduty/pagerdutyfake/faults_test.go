package pagerdutyfake_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
)

// Faults apply per API, for N calls or until cleared, with PagerDuty's
// error bodies by default.
func TestFaultsApplyPerAPIForNCallsOrUntilCleared(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)
	ctx := ctxT(t)
	f.Fail(pagerdutyfake.REST, 2, pagerdutyfake.Fault{Status: 503})
	f.Fail(pagerdutyfake.Events, 0, pagerdutyfake.Fault{Status: 429})
	for i := range 2 {
		_, err := c.GetIncidentWithContext(ctx, "Q1")
		if e := apiError(t, err); e.StatusCode != 503 || !e.Temporary() {
			t.Errorf("REST call %d: %v", i, err)
		}
	}
	if _, err := c.GetIncidentWithContext(ctx, "Q1"); apiError(t, err).StatusCode != 404 {
		t.Errorf("third REST call: %v, want the fault used up", err)
	}
	for range 3 {
		_, err := c.ManageEventWithContext(ctx, trigger("k"))
		if e := apiError(t, err); e.StatusCode != 429 || !e.RateLimited() || !e.Temporary() {
			t.Errorf("event: %v", err)
		}
	}
	f.ClearFaults()
	if _, err := c.ManageEventWithContext(ctx, trigger("k")); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
	f.Fail(pagerdutyfake.Both, 1, pagerdutyfake.Fault{Status: 502, Body: "<html>bad gateway</html>", ContentType: "text/html"})
	_, err := c.GetIncidentWithContext(ctx, "Q1")
	if e := apiError(t, err); e.StatusCode != 502 || !strings.Contains(err.Error(), "does not contain Content-Type: application/json") {
		t.Errorf("HTML 502: %v", err)
	}
	if _, err := c.ManageEventWithContext(ctx, trigger("k")); apiError(t, err).StatusCode != 502 {
		t.Errorf("HTML 502 on events: %v", err)
	}
	if _, err := c.GetIncidentWithContext(ctx, "Q1"); apiError(t, err).StatusCode != 404 {
		t.Errorf("after the 502: %v", err)
	}
	if n := len(f.Events()); n != 1 {
		t.Errorf("%d events processed, want 1 (faulted calls process nothing)", n)
	}
}

// A PagerDuty that hangs, drops the connection or cannot be reached: how
// go-pagerduty reports it. Its transport errors are formatted with %v: they
// are not pagerduty.APIError and wrap nothing (not even the context's
// error), so a notifier tells them apart only by elimination.
func TestAnUnreachablePagerDuty(t *testing.T) {
	f := newFake(t)
	c := newClient(f, pagerdutyfake.Token)

	f.Fail(pagerdutyfake.REST, 1, pagerdutyfake.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetIncidentWithContext(ctx, "Q1")
	if err == nil || time.Since(start) > 5*time.Second || !strings.Contains(err.Error(), "error calling the API endpoint") {
		t.Fatalf("hang: %v after %s", err, time.Since(start))
	}
	var ae pagerduty.APIError
	if errors.As(err, &ae) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("go-pagerduty now wraps its transport errors (%v): the notifier's classification can use errors.Is", err)
	}

	f.Fail(pagerdutyfake.Events, 1, pagerdutyfake.Fault{Drop: true})
	if _, err := c.ManageEventWithContext(ctxT(t), trigger("k")); err == nil || errors.As(err, &ae) {
		t.Errorf("dropped connection: %v", err)
	}

	f.Down()
	_, err = c.CreateIncidentWithContext(ctxT(t), pagerdutyfake.From, newIncident(""))
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("down: %v, want connection refused", err)
	}
	if err := f.Up(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIncidentWithContext(ctxT(t), pagerdutyfake.From, newIncident("")); err != nil {
		t.Errorf("up again: %v", err)
	}
	reqs := f.Requests()
	if len(reqs) != 3 || reqs[0].Status != 0 || !reqs[0].Fault || reqs[2].Status != 201 {
		t.Errorf("requests = %+v (a refused connection reaches no handler)", reqs)
	}
}

// Close releases a request that hangs until cleared.
func TestCloseReleasesHangingCalls(t *testing.T) {
	f := pagerdutyfake.New()
	c := newClient(f, pagerdutyfake.Token)
	f.Fail(pagerdutyfake.Both, 0, pagerdutyfake.Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		_, err := c.GetIncidentWithContext(context.Background(), "Q1")
		done <- err
	}()
	for len(f.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	f.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hanging call succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hanging call")
	}
}
