package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Ack is an envelope acknowledgement received from the bot.
type Ack struct {
	EnvelopeID string
	// Latency is the time from sending the envelope to receiving its ack.
	Latency time.Duration
	Payload json.RawMessage
}

// delivery is one envelope in flight.
type delivery struct {
	id      string
	typ     string
	payload json.RawMessage
	eventID string // events_api only
	attempt int
	sentAt  time.Time
	acked   bool
	timer   *time.Timer
}

type wsConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
	once sync.Once
	// noPings stops the PING frames of this socket.
	noPings atomic.Bool
}

func (c *wsConn) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteJSON(v)
}

func (c *wsConn) ping() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
}

func (c *wsConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	s.mu.Lock()
	n := min(len(s.conns)+1, s.opts.Connections)
	s.mu.Unlock()
	if err := c.write(map[string]any{
		"type": "hello", "num_connections": n,
		"connection_info": map[string]string{"app_id": AppID},
		"debug_info":      map[string]any{"host": "slackfake", "approximate_connection_time": 3600},
	}); err != nil {
		c.close()
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.close()
		return
	}
	var old *wsConn
	s.conns = append(s.conns, c)
	if len(s.conns) > s.opts.Connections {
		old = s.conns[0]
		s.conns = s.conns[1:]
	}
	s.conn = c
	s.connects++
	close(s.connCh)
	s.connCh = make(chan struct{})
	outbox := s.outbox
	s.outbox = nil
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	for _, d := range outbox {
		s.send(d)
	}
	go s.pinger(c)
	s.readAcks(c)
}

func (s *Server) pinger(c *wsConn) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if c.noPings.Load() {
				continue
			}
			if err := c.ping(); err != nil {
				c.close()
				return
			}
		}
	}
}

func (s *Server) readAcks(c *wsConn) {
	defer func() {
		c.close()
		s.mu.Lock()
		s.dropLocked(c)
		s.mu.Unlock()
	}()
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := c.ws.ReadJSON(&ack); err != nil {
			return
		}
		now := time.Now()
		s.mu.Lock()
		if s.dropAcks > 0 {
			s.dropAcks-- // lost on the way
			s.mu.Unlock()
			continue
		}
		if d, ok := s.deliveries[ack.EnvelopeID]; ok && !d.acked {
			d.acked = true
			if d.timer != nil {
				d.timer.Stop()
			}
			s.acks = append(s.acks, Ack{EnvelopeID: ack.EnvelopeID, Latency: now.Sub(d.sentAt), Payload: ack.Payload})
			delete(s.deliveries, ack.EnvelopeID) // done; events stay in byEvent
		}
		s.mu.Unlock()
	}
}

// dropLocked forgets a closed socket; the newest open one (if any) becomes
// the current socket.
func (s *Server) dropLocked(c *wsConn) {
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i:i], s.conns[i+1:]...)
			break
		}
	}
	if s.conn == c {
		s.conn = nil
		if n := len(s.conns); n > 0 {
			s.conn = s.conns[n-1]
		}
	}
}

// pickLocked is the socket of the next envelope: each open socket in turn.
func (s *Server) pickLocked() *wsConn {
	if len(s.conns) == 0 {
		return s.conn
	}
	s.next = (s.next + 1) % len(s.conns)
	return s.conns[s.next]
}

// ErrNotConnected is returned when a slash command or interaction is sent
// while the bot has no socket (Slack shows the user an error; it does not
// redeliver them).
var ErrNotConnected = errors.New("slackfake: bot not connected")

// send writes d to the current socket, or queues it (events only) until
// the bot connects. It starts the ack deadline.
func (s *Server) send(d *delivery) error {
	s.mu.Lock()
	c := s.pickLocked()
	if c == nil {
		if d.typ == "events_api" && !s.closed {
			s.outbox = append(s.outbox, d)
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		return ErrNotConnected
	}
	d.sentAt = time.Now()
	s.deliveries[d.id] = d
	if d.eventID != "" {
		s.byEvent[d.eventID] = d
	}
	d.timer = time.AfterFunc(s.opts.AckDeadline, func() { s.ackExpired(d) })
	s.mu.Unlock()
	env := map[string]any{
		"envelope_id":              d.id,
		"type":                     d.typ,
		"accepts_response_payload": d.typ != "events_api",
		"payload":                  d.payload,
	}
	if d.typ == "events_api" {
		env["retry_attempt"] = d.attempt
		env["retry_reason"] = map[bool]string{true: "timeout", false: ""}[d.attempt > 0]
	}
	if err := c.write(env); err != nil {
		s.mu.Lock()
		d.timer.Stop()
		delete(s.deliveries, d.id)
		s.dropLocked(c)
		s.mu.Unlock()
		if d.typ == "events_api" {
			// The socket broke: Slack delivers the event on the next one.
			d.timer = nil
			return s.send(d)
		}
		return fmt.Errorf("slackfake: write envelope: %w", err)
	}
	return nil
}

// ackExpired records a missed ack and redelivers an events_api envelope
// (a new envelope, same event_id, retry_attempt+1), across reconnects.
func (s *Server) ackExpired(d *delivery) {
	s.mu.Lock()
	if d.acked || s.closed {
		s.mu.Unlock()
		return
	}
	s.missed = append(s.missed, d.id)
	if d.typ != "events_api" || d.attempt >= len(s.opts.RedeliveryDelays) {
		s.mu.Unlock()
		return
	}
	delay := s.opts.RedeliveryDelays[d.attempt]
	next := s.newDelivery(d.typ, d.payload, d.eventID, d.attempt+1)
	s.mu.Unlock()
	time.AfterFunc(delay, func() { _ = s.send(next) })
}

func (s *Server) newDelivery(typ string, payload json.RawMessage, eventID string, attempt int) *delivery {
	s.seq++
	return &delivery{id: fmt.Sprintf("env-%d", s.seq), typ: typ, payload: payload, eventID: eventID, attempt: attempt}
}

// Disconnect sends a `disconnect` frame (reason: warning,
// refresh_requested, link_disabled); the client reopens a socket.
func (s *Server) Disconnect(reason string) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	return c.write(map[string]any{"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": "slackfake"}})
}

// DropConnection closes the socket abruptly, as a network failure would.
func (s *Server) DropConnection() {
	s.mu.Lock()
	c := s.conn
	if c != nil {
		s.dropLocked(c)
	}
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// Acks returns the acknowledgements received so far.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// AckOf returns the ack of one envelope, if it came.
func (s *Server) AckOf(envelopeID string) (Ack, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a.EnvelopeID == envelopeID {
			return a, true
		}
	}
	return Ack{}, false
}

// WaitAck waits for the ack of envelopeID.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if a, ok := s.AckOf(envelopeID); ok {
			return a, nil
		}
		select {
		case <-ctx.Done():
			return Ack{}, fmt.Errorf("wait for ack of %s: %w", envelopeID, ctx.Err())
		case <-t.C:
		}
	}
}

// MissedAcks lists envelopes the bot failed to ack within the deadline.
func (s *Server) MissedAcks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.missed...)
}

// EnvelopeOf returns the envelope ID of the latest delivery of an event
// ("" if it has not been sent yet).
func (s *Server) EnvelopeOf(eventID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.byEvent[eventID]; d != nil {
		return d.id
	}
	return ""
}

// LoseAcks makes the next n acks from the bot get lost on the way, so that
// their envelopes miss the ack deadline (and events are redelivered).
func (s *Server) LoseAcks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAcks += n
}

// SendFrame writes data as one text frame on the current socket, as is:
// a frame that is not JSON, say.
func (s *Server) SendFrame(data []byte) error {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return ErrNotConnected
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}
