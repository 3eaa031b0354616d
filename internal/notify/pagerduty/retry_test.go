package pagerduty_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/failoverbot/failoverbot/internal/notify/pagerduty"
	"github.com/failoverbot/failoverbot/internal/notify/pagerduty/pagerdutyfake"
)

func client(f *pagerdutyfake.Server) *pd.Client {
	c := pd.NewClient(pagerdutyfake.Token, pd.WithAPIEndpoint(f.URL()), pd.WithV2EventsAPIEndpoint(f.URL()))
	c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	return c
}

// calls are the go-pagerduty calls the notifier makes, one per API.
var calls = map[pagerdutyfake.API]func(ctx context.Context, c *pd.Client) error{
	pagerdutyfake.REST: func(ctx context.Context, c *pd.Client) error {
		_, err := c.CreateIncidentNoteWithContext(ctx, "Q1", pd.IncidentNote{Content: "x", User: pd.APIObject{Summary: pagerdutyfake.From}})
		return err
	},
	pagerdutyfake.Events: func(ctx context.Context, c *pd.Client) error {
		_, err := c.ManageEventWithContext(ctx, &pd.V2Event{RoutingKey: pagerdutyfake.RoutingKey, Action: "trigger", DedupKey: "k",
			Payload: &pd.V2Payload{Summary: "s", Source: "failoverbot", Severity: "critical"}})
		return err
	},
}

// The retry matrix: every status either API may answer, through
// go-pagerduty, and the decision.
func TestRetryMatrix(t *testing.T) {
	f := pagerdutyfake.New()
	defer f.Close()
	c := client(f)
	for _, api := range []pagerdutyfake.API{pagerdutyfake.REST, pagerdutyfake.Events} {
		for _, tc := range []struct {
			status int
			retry  bool
		}{
			{400, false}, {401, false}, {403, false}, {404, false}, {408, true}, {409, false}, {422, false},
			{429, true}, {500, true}, {502, true}, {503, true}, {504, true},
		} {
			t.Run(fmt.Sprintf("api %d status %d", api, tc.status), func(t *testing.T) {
				f.Fail(api, 1, pagerdutyfake.Fault{Status: tc.status})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := calls[api](ctx, c)
				if err == nil {
					t.Fatal("no error")
				}
				if got := pagerduty.Retryable(err); got != tc.retry {
					t.Errorf("Retryable(%v) = %v, want %v", err, got, tc.retry)
				}
			})
		}
	}
}

// Failures without an answer are retried; an answer that does not decode
// is not (the change may have been made).
func TestRetryWithoutAnAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *pagerdutyfake.Server, api pagerdutyfake.API)
		retry bool
	}{
		{"a hang past the deadline", func(f *pagerdutyfake.Server, api pagerdutyfake.API) {
			f.Fail(api, 1, pagerdutyfake.Fault{Hang: true})
		}, true},
		{"a dropped connection", func(f *pagerdutyfake.Server, api pagerdutyfake.API) {
			f.Fail(api, 1, pagerdutyfake.Fault{Drop: true})
		}, true},
		{"connection refused", func(f *pagerdutyfake.Server, _ pagerdutyfake.API) { f.Down() }, true},
		{"a 2xx that is not JSON", func(f *pagerdutyfake.Server, api pagerdutyfake.API) {
			f.Fail(api, 1, pagerdutyfake.Fault{Status: 202, Body: "<html>accepted</html>"})
		}, false},
	} {
		for api, call := range calls {
			t.Run(fmt.Sprintf("%s api %d", tc.name, api), func(t *testing.T) {
				f := pagerdutyfake.New()
				defer f.Close()
				tc.setup(f, api)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				err := call(ctx, client(f))
				if err == nil {
					t.Fatal("no error")
				}
				if got := pagerduty.Retryable(err); got != tc.retry {
					t.Errorf("Retryable(%v) = %v, want %v", err, got, tc.retry)
				}
			})
		}
	}
}

func TestANilErrorIsNotRetried(t *testing.T) {
	if pagerduty.Retryable(nil) {
		t.Error("Retryable(nil)")
	}
}
