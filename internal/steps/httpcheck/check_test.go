package httpcheck

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/steps"
	"github.com/failoverbot/failoverbot/internal/steps/stepstest"
)

func newCheck(t *testing.T, cfg CheckConfig) *Check {
	t.Helper()
	c, err := New(&cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func healthServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer wrong" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// refusedURL is an address nothing listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	return "http://" + stepstest.RefusedAddr(t) + "/health"
}

// blackholeURL accepts connections and never answers.
func blackholeURL(t *testing.T) string {
	t.Helper()
	return "http://" + stepstest.BlackholeAddr(t) + "/health"
}

func TestCheckReportsStateAgainstExpectation(t *testing.T) {
	ok := healthServer(t, 200, `{"status":"ok","region":"primary"}`)
	failing := healthServer(t, 503, "unavailable")
	tests := []struct {
		name     string
		cfg      CheckConfig
		wantDone bool
		wantSum  string
	}{
		{"a healthy endpoint is up", CheckConfig{URL: ok}, true, "is up"},
		{"a healthy endpoint is not down", CheckConfig{URL: ok, Expect: "down"}, false, "(expected down)"},
		{"a 503 is down", CheckConfig{URL: failing, Expect: "down"}, true, "status 503, want 2xx"},
		{"a 503 is not up", CheckConfig{URL: failing}, false, "status 503"},
		{"an expected non-2xx status counts as up", CheckConfig{URL: failing, ExpectStatus: 503}, true, "is up"},
		{"a body that lacks the text is down", CheckConfig{URL: ok, BodyContains: "dr"}, false, `body does not contain "dr"`},
		{"a body that contains the text is up", CheckConfig{URL: ok, BodyContains: `"ok"`}, true, "is up"},
		{"a body matching the regexp is up", CheckConfig{URL: ok, BodyRegexp: `"region":"prim\w+"`}, true, "is up"},
		{"a body not matching the regexp is down", CheckConfig{URL: ok, BodyRegexp: `^x`, Expect: "down"}, true, "does not match"},
		{"a refused port is down", CheckConfig{URL: refusedURL(t), Expect: "down"}, true, "refused"},
		{"a refused port is not up", CheckConfig{URL: refusedURL(t)}, false, "refused"},
		{"a header is sent", CheckConfig{URL: ok, Headers: map[string]string{"Authorization": "Bearer wrong"}}, false, "status 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := newCheck(t, tt.cfg).Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if res.Done != tt.wantDone || !strings.Contains(res.Summary, tt.wantSum) {
				t.Errorf("Check = done %v %q, want done %v and a summary containing %q", res.Done, res.Summary, tt.wantDone, tt.wantSum)
			}
		})
	}
}

func TestCheckOutputsStatusAndState(t *testing.T) {
	res, err := newCheck(t, CheckConfig{URL: healthServer(t, 204, "")}).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["status"] != "204" || res.Outputs["state"] != "up" {
		t.Errorf("outputs = %v, want status 204, state up", res.Outputs)
	}
}

func TestBlackholedEndpointIsDownWithinTheAttemptTimeout(t *testing.T) {
	url := blackholeURL(t)
	for _, expect := range []string{"down", "up"} {
		c := newCheck(t, CheckConfig{URL: url, Expect: expect, AttemptTimeout: "300ms"})
		start := time.Now()
		res, err := c.Check(context.Background())
		took := time.Since(start)
		if err != nil {
			t.Fatalf("expect %s: Check: %v", expect, err)
		}
		if took > 300*time.Millisecond+time.Second {
			t.Errorf("expect %s: Check took %s against a blackhole, want about the 300ms attempt timeout", expect, took)
		}
		if res.Done != (expect == "down") || res.Outputs["state"] != "down" {
			t.Errorf("expect %s: got done %v state %s (%s)", expect, res.Done, res.Outputs["state"], res.Summary)
		}
		if !strings.Contains(res.Summary, "attempt timeout 300ms") {
			t.Errorf("summary %q should say which deadline fired", res.Summary)
		}
	}
}

func TestCheckHonoursTheCallersDeadline(t *testing.T) {
	c := newCheck(t, CheckConfig{URL: blackholeURL(t), AttemptTimeout: "1m"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Check(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Check with an expired context = %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Check took %s, want about 200ms", took)
	}
}

func TestSecretsInURLAndHeadersNeverReachSummaries(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	url := refusedURL(t) + "?token=" + token
	url = strings.Replace(url, "http://", "http://user:"+token+"@", 1)
	c := newCheck(t, CheckConfig{URL: url, Headers: map[string]string{"X-Api-Key": token}})
	res, err := c.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Summary, token) {
		t.Errorf("summary leaks the secret: %s", res.Summary)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	cfg := CheckConfig{URL: "ftp://x", Method: "FETCH", ExpectStatus: 42, BodyRegexp: "(", Expect: "sideways",
		AttemptTimeout: "soon", Headers: map[string]string{"Bad Name": "v"}}
	err := cfg.CheckAndSetDefaults()
	for _, field := range []string{"url", "method", "expectStatus", "bodyRegexp", "expect", "attemptTimeout", "headers"} {
		if !hasField(err, field) {
			t.Errorf("CheckAndSetDefaults() = %v, want an error on %s", err, field)
		}
	}
}

func TestValidateAcceptsTemplatesAndFillsDefaults(t *testing.T) {
	cfg := CheckConfig{URL: "${env:LAB_HTTP_PRIMARY_URL}", Expect: "{{ .params.expect }}", AttemptTimeout: "${env:T}"}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatalf("CheckAndSetDefaults() = %v, want templated values accepted", err)
	}
	cfg = CheckConfig{URL: "http://127.0.0.1/health"}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	if cfg.Method != "GET" || cfg.Expect != "up" || cfg.AttemptTimeout != DefaultAttemptTimeout {
		t.Errorf("defaults = %s %s %s", cfg.Method, cfg.Expect, cfg.AttemptTimeout)
	}
	if _, err := New(&CheckConfig{URL: "${env:X}"}, nil); err == nil || !steps.IsPermanent(err) {
		t.Errorf("New with an unexpanded template = %v, want a permanent error", err)
	}
}

func TestRegisterDeclaresAReadOnlyKind(t *testing.T) {
	r := steps.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatal(err)
	}
	k, ok := r.Kind("http.check")
	if !ok || !k.ReadOnly() || !k.Implemented() || k.Connection() != "" {
		t.Errorf("http.check = %+v", k)
	}
	if err := Register(r); err == nil {
		t.Error("registering twice should fail on the collision")
	}
}

func hasField(err error, field string) bool {
	var fe *steps.FieldError
	for _, e := range flatten(err) {
		if errors.As(e, &fe) && fe.Field == field {
			return true
		}
	}
	return false
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestTLSCertificatesAreCheckedUnlessSkipped(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
	t.Cleanup(srv.Close)
	res, err := newCheck(t, CheckConfig{URL: srv.URL, AttemptTimeout: "2s"}).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Done || !strings.Contains(res.Summary, "certificate") {
		t.Errorf("a self-signed certificate = %+v, want down naming the certificate", res)
	}
	res, err = newCheck(t, CheckConfig{URL: srv.URL, InsecureSkipVerify: true}).Check(context.Background())
	if err != nil || !res.Done {
		t.Errorf("with insecureSkipVerify = %+v, %v, want up", res, err)
	}
}
