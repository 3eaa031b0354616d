package statuspagefake

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// call sends one raw request and returns the status, Retry-After and body.
func call(t *testing.T, s *Server, method, path, auth, body string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func TestTheOAuthHeaderIsChecked(t *testing.T) {
	s := New(Options{Rate: rate.Inf})
	defer s.Close()
	s.AddComponent("pg", "c1", "DB", "operational")
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401}, {"Bearer " + APIKey, 401}, {"OAuth wrong", 401}, {"OAuth " + APIKey, 200},
	} {
		if code, _, body := call(t, s, "GET", "/pages/pg/components/c1", tc.auth, ""); code != tc.want {
			t.Errorf("Authorization %q: %d %s, want %d", tc.auth, code, body, tc.want)
		}
	}
	s.RevokeKey(APIKey)
	if code, _, body := call(t, s, "GET", "/pages/pg/components/c1", "OAuth "+APIKey, ""); code != 401 || !strings.Contains(body, `"error"`) {
		t.Errorf("revoked key: %d %s", code, body)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Body+r.Path, APIKey) {
			t.Errorf("a request record holds the key: %+v", r)
		}
	}
}

// Bodies are decoded strictly, and a misspelt field is a 400 (the real API
// would ignore it and a notification would silently lose it).
func TestUnknownFieldsAreRefused(t *testing.T) {
	s := New(Options{Rate: rate.Inf})
	defer s.Close()
	s.AddPage("pg", "Page")
	code, _, body := call(t, s, "POST", "/pages/pg/incidents", "OAuth "+APIKey,
		`{"incident":{"name":"x","status":"investigating","deliver_notification":true}}`)
	if code != 400 || !strings.Contains(body, "deliver_notification") {
		t.Errorf("%d %s, want 400 naming the field", code, body)
	}
	if code, _, body := call(t, s, "POST", "/pages/pg/incidents", "OAuth "+APIKey, `{"incident":{"name":"x","status":"fixed"}}`); code != 422 {
		t.Errorf("bad status: %d %s", code, body)
	}
	if len(s.Incidents("pg")) != 0 || len(s.Changes()) != 0 {
		t.Error("a refused call changed the page")
	}
}

// The rate limit answers with Retry-After, and rejected calls use no token.
func TestTheRateLimitAnswersRetryAfter(t *testing.T) {
	s := New(Options{Rate: 0.5}) // one call per 2s: the test's timing has slack
	defer s.Close()
	s.AddComponent("pg", "c1", "DB", "operational")
	if code, _, _ := call(t, s, "GET", "/pages/pg/components/c1", "OAuth "+APIKey, ""); code != 200 {
		t.Fatalf("first call: %d", code)
	}
	code, ra, body := call(t, s, "GET", "/pages/pg/components/c1", "OAuth "+APIKey, "")
	if code != 429 || ra != "2" || !strings.Contains(body, "Rate limit") {
		t.Errorf("second call: %d Retry-After %q %s, want 429 with Retry-After 2", code, ra, body)
	}
	if code, _, _ := call(t, s, "GET", "/pages/pg/components/c1", "OAuth bad", ""); code != 401 {
		t.Errorf("a bad key is refused before the limit: %d", code)
	}
}

// Faults: the next N calls, or every call until cleared; a hanging call is
// released when the client gives up.
func TestFaults(t *testing.T) {
	s := New(Options{Rate: rate.Inf})
	defer s.Close()
	s.AddComponent("pg", "c1", "DB", "operational")
	s.Fail(2, Fault{Status: 503, RetryAfter: "9"})
	s.Fail(0, Fault{Status: 502})
	var got []int
	for range 4 {
		code, _, _ := call(t, s, "GET", "/pages/pg/components/c1", "OAuth "+APIKey, "")
		got = append(got, code)
	}
	if want := []int{503, 503, 502, 502}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	s.ClearFaults()
	s.Fail(1, Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/pages/pg/components/c1", nil)
	req.Header.Set("Authorization", "OAuth "+APIKey)
	if _, err := s.HTTPClient().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hanging call: %v", err)
	}
	if code, _, _ := call(t, s, "GET", "/pages/pg/components/c1", "OAuth "+APIKey, ""); code != 200 {
		t.Errorf("after the faults: %d", code)
	}
	reqs := s.Requests()
	if len(reqs) != 6 || !reqs[0].Fault || reqs[4].Status != 0 || reqs[5].Fault {
		t.Errorf("requests = %+v", reqs)
	}
}

// Close releases a request that hangs, so that tests end.
func TestCloseReleasesAHangingCall(t *testing.T) {
	s := New(Options{Rate: rate.Inf})
	s.AddComponent("pg", "c1", "DB", "operational")
	s.Fail(0, Fault{Hang: true})
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL()+"/pages/pg/components/c1", nil)
		resp, err := s.HTTPClient().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for len(s.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging call was not released by Close")
	}
}
