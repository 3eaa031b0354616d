package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pgTap is a TCP proxy in front of the DR PostgreSQL that the bot reaches
// it through. It follows the client's side of the PostgreSQL protocol
// (startup, then typed messages) and counts the executions of statements
// calling pg_promote (a simple Query, or an Execute of a portal bound to a
// statement Parsed with it). When armed, it holds back every byte the
// server sends, from the first such execution on, on that connection: the
// promotion lands, its answer never reaches the bot, as when a bot dies
// right after its call reached the server.
type pgTap struct {
	ln       net.Listener
	upstream string

	mu       sync.Mutex
	armed    bool
	promotes int
	held     chan struct{} // closed once an answer is held back
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
}

var promoteCall = []byte("pg_promote(")

func newPGTap(t *testing.T, upstream string, arm bool) *pgTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgTap{ln: ln, upstream: upstream, armed: arm, held: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *pgTap) Addr() string { return p.ln.Addr().String() }

// Promotes is how many pg_promote calls went through.
func (p *pgTap) Promotes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.promotes
}

// Held reports whether the answer to a pg_promote is being held back.
func (p *pgTap) Held() bool {
	select {
	case <-p.held:
		return true
	default:
		return false
	}
}

func (p *pgTap) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *pgTap) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.conns == nil {
			return false // closed
		}
		p.conns[c] = struct{}{}
	} else if p.conns != nil {
		delete(p.conns, c)
	}
	return true
}

func (p *pgTap) handle(client net.Conn) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(client, true) || !p.track(server, true) {
		return
	}
	defer p.track(client, false)
	defer p.track(server, false)
	done := make(chan struct{})
	var hold atomic.Bool // set before the execution is forwarded
	go func() {
		defer close(done)
		defer server.Close()
		f := &pgFrames{}
		buf := make([]byte, 32*1024)
		for {
			n, err := client.Read(buf)
			f.buf = append(f.buf, buf[:n]...)
			for {
				msg, promote, ok := f.next()
				if !ok {
					break
				}
				if promote {
					p.mu.Lock()
					p.promotes++
					if p.armed {
						p.armed = false
						hold.Store(true)
						close(p.held)
					}
					p.mu.Unlock()
				}
				if _, err := server.Write(msg); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := server.Read(buf)
		if hold.Load() {
			<-done // never answer; give up when the client goes away
			return
		}
		if n > 0 {
			if _, err := client.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *pgTap) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// pgFrames splits the client's side of a PostgreSQL connection into
// messages and recognizes executions of pg_promote.
type pgFrames struct {
	buf      []byte
	started  bool            // the startup message went by
	promote  map[string]bool // prepared statements calling pg_promote
	portalPr map[string]bool // portals bound to such a statement
}

// next returns the next complete message, and whether it executes a
// statement calling pg_promote; ok is false until a message is complete.
func (f *pgFrames) next() (msg []byte, promote, ok bool) {
	if f.promote == nil {
		f.promote, f.portalPr = map[string]bool{}, map[string]bool{}
	}
	if !f.started {
		// Untyped: length (itself included), then protocol or request code.
		if len(f.buf) < 8 {
			return nil, false, false
		}
		n := int(binary.BigEndian.Uint32(f.buf))
		if len(f.buf) < n {
			return nil, false, false
		}
		msg, f.buf = f.buf[:n], f.buf[n:]
		code := binary.BigEndian.Uint32(msg[4:8])
		f.started = code != 80877103 && code != 80877104 // SSLRequest, GSSENCRequest come first
		return msg, false, true
	}
	if len(f.buf) < 5 {
		return nil, false, false
	}
	n := 1 + int(binary.BigEndian.Uint32(f.buf[1:5]))
	if len(f.buf) < n {
		return nil, false, false
	}
	msg, f.buf = f.buf[:n], f.buf[n:]
	body := msg[5:]
	cstr := func(b []byte) (string, []byte) {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return string(b), nil
		}
		return string(b[:i]), b[i+1:]
	}
	switch msg[0] {
	case 'Q': // simple query: executes at once
		promote = bytes.Contains(body, promoteCall)
	case 'P': // Parse: statement name, query
		name, rest := cstr(body)
		query, _ := cstr(rest)
		f.promote[name] = bytes.Contains([]byte(query), promoteCall)
	case 'B': // Bind: portal name, statement name
		portal, rest := cstr(body)
		stmt, _ := cstr(rest)
		f.portalPr[portal] = f.promote[stmt]
	case 'E': // Execute: portal name
		portal, _ := cstr(body)
		promote = f.portalPr[portal]
	}
	return msg, promote, true
}
