// Package slackfake is a local Slack for tests: an httptest server that
// speaks socket mode (apps.connections.open, a WebSocket with hello, PING
// control frames, envelopes, acks with a deadline, redelivery of unacked
// events, disconnect) and the Web API methods the bot calls, file uploads
// included, as described in shared/CONTRACTS.md. Tests drive the real
// slack-go client against it.
package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Default tokens accepted by a new Server.
const (
	AppToken = "xapp-1-A0FAKE-1-fakeapptoken"
	BotToken = "xoxb-1-fakebottoken"
	// BotUserID is the bot's own user (auth.test).
	BotUserID = "UBOT"
	// AppID is reported in hello.
	AppID = "A0FAKE"
)

// Options tune a Server. Zero values take Slack's real behaviour.
type Options struct {
	// PingInterval between WebSocket PING control frames (default 1s).
	PingInterval time.Duration
	// AckDeadline is how long the bot has to ack an envelope (default 3s).
	AckDeadline time.Duration
	// RedeliveryDelays are the waits before each redelivery of an unacked
	// events_api envelope (Slack: at once, ~1 min, ~5 min).
	RedeliveryDelays []time.Duration
	// Connections is how many sockets the app may hold at once, as Slack
	// allows several (one per replica) and spreads envelopes across them
	// in turn. Default 1: a new socket replaces the one before.
	Connections int
}

// Server is a fake Slack. Create it with New; Close it when done.
type Server struct {
	opts Options
	srv  *httptest.Server
	up   websocket.Upgrader

	mu         sync.Mutex
	appTokens  map[string]string // token -> error ("" valid)
	botTokens  map[string]string
	conn       *wsConn   // the current (newest) socket
	conns      []*wsConn // every open socket, oldest first
	next       int       // round-robin position in conns
	connCh     chan struct{}
	connects   int
	seq        int
	ts         int64
	outbox     []*delivery // events waiting for a socket
	deliveries map[string]*delivery
	byEvent    map[string]*delivery // latest delivery of each event
	acks       []Ack
	missed     []string // envelope IDs not acked in time
	calls      []Call
	messages   map[string]*Message // channel+"/"+ts
	order      []string
	ephemerals []Message
	users      map[string]User
	groups     map[string][]string
	handles    map[string]string
	channels   map[string]string
	failures   map[string][]Failure
	closed     bool
	dropAcks   int
	outsiders  map[string]bool // channels the bot is not a member of
	responses  []ResponseURLMessage
	files      map[string]*File
	fileOrder  []string
}

// New starts a fake Slack.
func New(opts Options) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = time.Second
	}
	if opts.Connections <= 0 {
		opts.Connections = 1
	}
	if opts.AckDeadline <= 0 {
		opts.AckDeadline = 3 * time.Second
	}
	if opts.RedeliveryDelays == nil {
		opts.RedeliveryDelays = []time.Duration{0, time.Minute, 5 * time.Minute}
	}
	s := &Server{
		opts:       opts,
		up:         websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		appTokens:  map[string]string{AppToken: ""},
		botTokens:  map[string]string{BotToken: ""},
		connCh:     make(chan struct{}),
		deliveries: map[string]*delivery{},
		byEvent:    map[string]*delivery{},
		messages:   map[string]*Message{},
		users:      map[string]User{BotUserID: {ID: BotUserID, Name: "failoverbot", IsBot: true}},
		groups:     map[string][]string{},
		handles:    map[string]string{},
		channels:   map[string]string{},
		outsiders:  map[string]bool{},
		failures:   map[string][]Failure{},
		files:      map[string]*File{},
		ts:         1700000000000000,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/apps.connections.open", s.connectionsOpen)
	mux.HandleFunc("/api/{method}", s.webAPI)
	mux.HandleFunc("GET /link/", s.link)
	mux.HandleFunc("POST /commands/{n}", s.responseURL)
	mux.HandleFunc("POST /upload/v1/{id}", s.upload)
	s.srv = httptest.NewServer(mux)
	return s
}

// APIURL is the Web API base to give slack.OptionAPIURL (ends in /).
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Close disconnects the bot and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := append([]*wsConn(nil), s.conns...)
	if s.conn != nil && len(conns) == 0 {
		conns = append(conns, s.conn)
	}
	s.conn, s.conns = nil, nil
	for _, d := range s.deliveries {
		if d.timer != nil {
			d.timer.Stop()
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// RevokeToken makes every later use of tok fail with token_revoked (an
// app-level token on apps.connections.open, a bot token on the Web API).
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.appTokens[tok]; ok {
		s.appTokens[tok] = "token_revoked"
	}
	if _, ok := s.botTokens[tok]; ok {
		s.botTokens[tok] = "token_revoked"
	}
}

// AddUser registers a workspace member for users.info.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// SetGroup sets a user group (ID "S…", handle as in @oncall) and its
// members, for usergroups.list and usergroups.users.list.
func (s *Server) SetGroup(id, handle string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
	s.handles[id] = handle
}

// Connects is how many sockets the bot has opened so far.
func (s *Server) Connects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects
}

// Connected returns a channel closed at the next successful socket
// connection (hello sent).
func (s *Server) Connected() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connCh
}

// OpenSockets is how many sockets are open now.
func (s *Server) OpenSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// IsConnected says whether a socket is open now.
func (s *Server) IsConnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil
}

// StopPings stops PING frames on the current socket (later sockets get
// them again), so that the client's ping watchdog reconnects.
func (s *Server) StopPings() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.noPings.Store(true)
	}
}

func (s *Server) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: "apps.connections.open", At: time.Now()})
	failure := s.takeFailure("apps.connections.open")
	verdict, known := s.appTokens[tok]
	s.seq++
	ticket := s.seq
	s.mu.Unlock()
	if failure != nil {
		failure.write(w)
		return
	}
	switch {
	case !ok || tok == "":
		writeJSON(w, map[string]any{"ok": false, "error": "not_authed"})
	case !known:
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
	case verdict != "":
		writeJSON(w, map[string]any{"ok": false, "error": verdict})
	default:
		url := "ws" + strings.TrimPrefix(s.srv.URL, "http") + fmt.Sprintf("/link/?ticket=%d", ticket)
		writeJSON(w, map[string]any{"ok": true, "url": url})
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Failure is an injected Web API failure, used once.
type Failure struct {
	// Status is the HTTP status (e.g. 429, 500); 0 means 200.
	Status int
	// RetryAfter is the Retry-After header value in seconds ("" for none).
	RetryAfter string
	// Error is the Slack error code of an {"ok":false} reply.
	Error string
}

func (f *Failure) write(w http.ResponseWriter) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Status != 0 && f.Status != http.StatusOK {
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(http.StatusText(f.Status)))
		return
	}
	writeJSON(w, map[string]any{"ok": false, "error": f.Error})
}

// Fail makes the next calls of a Web API method fail, one failure per call
// ("upload" for the upload URL of files.getUploadURLExternal).
func (s *Server) Fail(method string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], fs...)
}

// Heal drops the failures still waiting for a method's calls: Slack is
// back.
func (s *Server) Heal(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, method)
}

func (s *Server) takeFailure(method string) *Failure {
	q := s.failures[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	s.failures[method] = q[1:]
	return &f
}
