// Package statuspagefake is a local Atlassian Statuspage for tests: an HTTP
// server that speaks the v1 REST API the bot uses (incidents with their
// update entries, components), as described in shared/CONTRACTS.md. It
// checks "Authorization: OAuth <key>", enforces the rate limit of 1
// request/s per key (answering 429 or 420 with Retry-After), injects faults
// (status codes for the next N calls, calls that hang), and records every
// request and every change so that a test can assert the exact sequence of
// incident states, update bodies and component states.
//
// It is stricter than the real API in two ways that catch client bugs:
// request bodies are decoded strictly (an unknown field is a 400), and a
// component named in an incident must exist on the page.
package statuspagefake

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// APIKey is the key a new Server accepts.
const APIKey = "fakestatuspagekey0123456789abcdef"

// Options tune a Server. Zero values take the real API's behaviour.
type Options struct {
	// RateLimitStatus is the status of a rate-limited answer: 429 (the
	// default) or 420 (what the API answered before 2021, still seen).
	RateLimitStatus int
	// Rate is the requests per second allowed per key (default 1);
	// rate.Inf turns the limit off.
	Rate rate.Limit
	// Burst is how many requests may come at once (default 1).
	Burst int
}

// Server is a fake Statuspage. Create it with New (on a loopback port) or
// NewInProcess (no network, for testing/synctest bubbles); Close it.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	srv     *httptest.Server // nil in process
	closing chan struct{}

	mu       sync.Mutex
	closed   bool
	keys     map[string]bool
	limiters map[string]*rate.Limiter
	pages    map[string]*page
	faults   []*faultRun
	requests []Request
	changes  []Change
	seq      int
}

// New starts a fake Statuspage on a loopback port.
func New(opts Options) *Server {
	s := newServer(opts)
	s.srv = httptest.NewServer(s)
	return s
}

// NewInProcess returns a fake Statuspage that listens on nothing: give
// HTTPClient() to the client under test. Requests are served in the
// caller's goroutine, so a testing/synctest bubble's fake clock applies to
// the fake's rate limit too.
func NewInProcess(opts Options) *Server {
	return newServer(opts)
}

func newServer(opts Options) *Server {
	if opts.RateLimitStatus == 0 {
		opts.RateLimitStatus = http.StatusTooManyRequests
	}
	if opts.Rate == 0 {
		opts.Rate = 1
	}
	if opts.Burst <= 0 {
		opts.Burst = 1
	}
	s := &Server{
		opts:     opts,
		closing:  make(chan struct{}),
		keys:     map[string]bool{APIKey: true},
		limiters: map[string]*rate.Limiter{},
		pages:    map[string]*page{},
	}
	s.routes()
	return s
}

// URL is the API root to give the client (ends in /v1, no slash).
func (s *Server) URL() string {
	if s.srv == nil {
		return "http://statuspage.fake.invalid/v1"
	}
	return s.srv.URL + "/v1"
}

// HTTPClient returns a client that reaches this server (in process for
// NewInProcess).
func (s *Server) HTTPClient() *http.Client {
	if s.srv == nil {
		return &http.Client{Transport: inProcess{s}}
	}
	return s.srv.Client()
}

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	if s.srv != nil {
		s.srv.CloseClientConnections()
		s.srv.Close()
	}
}

// AddKey makes another API key valid (each key has its own rate limit).
func (s *Server) AddKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = true
}

// RevokeKey makes a key invalid: its calls get 401.
func (s *Server) RevokeKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// Fault is an injected failure, answered before authentication (as a load
// balancer in front of the API would).
type Fault struct {
	// Status is the HTTP status to answer.
	Status int
	// RetryAfter is the Retry-After header value ("" for none).
	RetryAfter string
	// Body is the answer's body (default {"error":"<status text>"}).
	Body string
	// Hang holds the request without answering until the client gives up
	// or the server is closed; Status is then ignored.
	Hang bool
}

type faultRun struct {
	f    Fault
	left int // < 0: until ClearFaults
}

// Fail makes the next n calls fail with f (n <= 0: every call, until
// ClearFaults). Faults queue in the order given.
func (s *Server) Fail(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		n = -1
	}
	s.faults = append(s.faults, &faultRun{f: f, left: n})
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) takeFault() *Fault {
	if len(s.faults) == 0 {
		return nil
	}
	fr := s.faults[0]
	f := fr.f
	if fr.left > 0 {
		fr.left--
		if fr.left == 0 {
			s.faults = s.faults[1:]
		}
	}
	return &f
}

// Request is one request received, as a test checks it.
type Request struct {
	Method string
	// Path is the URL path, from /v1 on.
	Path string
	// Body is the request's JSON body ("" for none).
	Body string
	// Status is what the fake answered (0 when it hung).
	Status int
	// Fault says an injected fault answered it.
	Fault bool
	// Authorized says the OAuth key was valid (the key is not recorded).
	Authorized bool
	At         time.Time
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ChangeKind says what a Change did.
type ChangeKind string

// The changes the fake records.
const (
	IncidentCreated  ChangeKind = "incident.created"
	IncidentUpdated  ChangeKind = "incident.updated"
	ComponentChanged ChangeKind = "component.changed"
)

// Change is one change the API made to a page, in the order made.
type Change struct {
	Kind     ChangeKind
	Page     string
	Incident string // the incident's ID (incident changes)
	// Status is the incident's status after the change, or the
	// component's new status.
	Status string
	// Body is the text of the update entry the change added ("" if none).
	Body      string
	Component string // the component's ID (component changes)
	// Notify is deliver_notifications of an incident change.
	Notify bool
}

// Changes returns every change made so far, in order. A component set
// through an incident records a ComponentChanged after the incident's
// change.
func (s *Server) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

// inProcess serves requests by calling the server's handler directly.
type inProcess struct{ s *Server }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "in-process"
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, in)
	if err := req.Context().Err(); err != nil {
		return nil, fmt.Errorf("statuspagefake: %w", err)
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
