// Package pagerdutyfake is a local PagerDuty for tests: one HTTP server that
// speaks the REST API v2 calls the bot makes (create, read and list
// incidents, add and list notes, acknowledge and resolve) and the Events API
// v2 (POST /v2/enqueue), as described in shared/CONTRACTS.md, with
// PagerDuty's headers, status codes and error bodies. Tests drive it with
// the real go-pagerduty client, pointing both of its endpoints at URL():
//
//	pagerduty.NewClient(pagerdutyfake.Token,
//		pagerduty.WithAPIEndpoint(f.URL()), pagerduty.WithV2EventsAPIEndpoint(f.URL()))
//
// Faults are injected per API (status codes, 429, a hang, a dropped
// connection) for the next N calls or until cleared, and Down makes the
// server refuse connections. Every change — incident created, status
// changed, note added, event processed — is recorded in order.
//
// It is stricter than PagerDuty where that catches client bugs: request
// bodies are decoded strictly and the Accept header must ask for version 2.
package pagerdutyfake

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Credentials and objects a new Server knows.
const (
	// Token is a valid REST API token (Authorization: Token token=…).
	Token = "fakepagerdutytoken0123"
	// RoutingKey is a valid Events API v2 integration key (32 characters).
	RoutingKey = "R0FAKEROUTINGKEY0123456789ABCDEF"
	// ServiceID is a service that incidents may be opened on.
	ServiceID = "PSVC001"
	// From is an email address to send in the From header of writes.
	From = "failoverbot@example.com"
)

// Server is a fake PagerDuty. Create it with New; Close it when done.
type Server struct {
	srv     *httptest.Server
	ln      *switchListener
	closing chan struct{}

	mu          sync.Mutex
	closed      bool
	tokens      map[string]bool
	routingKeys map[string]bool
	services    map[string]string // ID → name
	incidents   map[string]*incident
	incOrder    []string
	alerts      map[string]*Alert // routing key + "/" + dedup key
	faults      map[API][]*faultRun
	changes     []Change
	events      []Event
	requests    []Request
	seq         int
}

// New starts a fake PagerDuty on a loopback port.
func New() *Server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("pagerdutyfake: listen: " + err.Error())
	}
	s := &Server{
		closing:     make(chan struct{}),
		tokens:      map[string]bool{Token: true},
		routingKeys: map[string]bool{RoutingKey: true},
		services:    map[string]string{ServiceID: "Checkout"},
		incidents:   map[string]*incident{},
		alerts:      map[string]*Alert{},
		faults:      map[API][]*faultRun{},
	}
	s.ln = newSwitchListener(l)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", s.enqueue)
	mux.HandleFunc("/", s.rest)
	s.srv = httptest.NewUnstartedServer(mux)
	s.srv.Listener.Close()
	s.srv.Listener = s.ln
	s.srv.Start()
	return s
}

// URL is the base URL for both WithAPIEndpoint and WithV2EventsAPIEndpoint
// (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// Close releases hanging requests and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Down makes the server refuse new connections (its port is closed) and
// drops open ones, as a PagerDuty that cannot be reached; Up undoes it.
func (s *Server) Down() {
	s.ln.down()
	s.srv.CloseClientConnections()
}

// Up listens again on the same address after Down.
func (s *Server) Up() error { return s.ln.up() }

// AddToken makes another REST API token valid.
func (s *Server) AddToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

// AddRoutingKey makes another Events API integration key valid.
func (s *Server) AddRoutingKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routingKeys[key] = true
}

// AddService adds a service incidents may be opened on.
func (s *Server) AddService(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[id] = name
}

// API selects which API a fault applies to.
type API int

// The APIs of the fake.
const (
	REST API = 1 << iota
	Events
	Both = REST | Events
)

// Fault is an injected failure, answered before authentication and
// validation (as a load balancer or an overloaded PagerDuty would).
type Fault struct {
	// Status is the HTTP status to answer (default 500).
	Status int
	// Body is the answer's body (default: PagerDuty's error body for the
	// API and status) and ContentType its type (default application/json).
	Body, ContentType string
	// RetryAfter is a Retry-After header value ("" for none).
	RetryAfter string
	// Hang holds the request until the client gives up or the server is
	// closed.
	Hang bool
	// Drop closes the connection without an answer.
	Drop bool
}

type faultRun struct {
	f    Fault
	left int // < 0: until ClearFaults
}

// Fail makes the next n calls of api fail with f (n <= 0: every call until
// ClearFaults). Faults queue in the order given; Both queues f on each API.
func (s *Server) Fail(api API, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		n = -1
	}
	for _, a := range []API{REST, Events} {
		if api&a != 0 {
			s.faults[a] = append(s.faults[a], &faultRun{f: f, left: n})
		}
	}
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[API][]*faultRun{}
}

func (s *Server) takeFault(api API) *Fault {
	q := s.faults[api]
	if len(q) == 0 {
		return nil
	}
	f := q[0].f
	if q[0].left > 0 {
		q[0].left--
		if q[0].left == 0 {
			s.faults[api] = q[1:]
		}
	}
	return &f
}

// Request is one request received, as a test checks it (tokens are not
// recorded).
type Request struct {
	API          API
	Method, Path string
	// From is the From header ("" when absent).
	From string
	Body string
	// Status is what the fake answered (0: hung or dropped).
	Status int
	Fault  bool
	At     time.Time
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// switchListener is a net.Listener whose port can be closed and opened
// again, so that clients see "connection refused" while it is down.
type switchListener struct {
	addr net.Addr

	mu     sync.Mutex
	l      net.Listener // nil while down
	wake   chan struct{}
	closed bool
}

func newSwitchListener(l net.Listener) *switchListener {
	return &switchListener{addr: l.Addr(), l: l, wake: make(chan struct{})}
}

func (s *switchListener) Accept() (net.Conn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, net.ErrClosed
		}
		l, wake := s.l, s.wake
		s.mu.Unlock()
		if l == nil {
			<-wake
			continue
		}
		c, err := l.Accept()
		if err == nil {
			return c, nil
		}
		s.mu.Lock()
		same := s.l == l && !s.closed
		s.mu.Unlock()
		if same {
			return nil, err
		}
	}
}

func (s *switchListener) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil {
		s.l.Close()
		s.l = nil
		close(s.wake)
		s.wake = make(chan struct{})
	}
}

func (s *switchListener) up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil || s.closed {
		return nil
	}
	l, err := net.Listen("tcp", s.addr.String())
	if err != nil {
		return err
	}
	s.l = l
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

func (s *switchListener) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.wake)
	if s.l != nil {
		return s.l.Close()
	}
	return nil
}

func (s *switchListener) Addr() net.Addr { return s.addr }
