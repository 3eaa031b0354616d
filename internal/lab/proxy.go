package lab

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// ProxyMode is how a region's front door behaves.
type ProxyMode string

// Proxy modes: forwarding, refusing connections (nothing listens on the
// port: the kernel answers with a reset), and a blackhole (connections are
// accepted and never answered, and existing ones stall: the dropped network
// that hangs naive tools).
const (
	ModeForward   ProxyMode = "forward"
	ModeRefuse    ProxyMode = "refuse"
	ModeBlackhole ProxyMode = "blackhole"
)

// proxy is a TCP proxy on a fixed loopback port in front of one service.
type proxy struct {
	name     string
	host     string // the loopback address it listens on
	port     int
	upstream string
	dialTO   time.Duration

	mu    sync.Mutex
	mode  ProxyMode
	ln    net.Listener
	conns map[*pipe]struct{}
	wg    sync.WaitGroup
}

type pipe struct {
	client, server net.Conn
	held           bool // blackholed: the client stays open, unanswered
}

// newProxy listens on a free loopback port and forwards to upstream.
func newProxy(name, upstream string) (*proxy, error) {
	return newProxyAt(name, "127.0.0.1:0", upstream)
}

// newProxyAt listens on listen (host:port; port 0 for a free one) and
// forwards to upstream.
func newProxyAt(name, listen, upstream string) (*proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: listen on %s: %w", name, listen, err)
	}
	a := ln.Addr().(*net.TCPAddr)
	p := &proxy{name: name, host: a.IP.String(), upstream: upstream, dialTO: 2 * time.Second, mode: ModeForward,
		port: a.Port, conns: map[*pipe]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// Mode returns the current mode.
func (p *proxy) Mode() ProxyMode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.handle(c)
		}
	}()
}

func (p *proxy) handle(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := &pipe{client: c}
	p.conns[pp] = struct{}{}
	if p.mode == ModeBlackhole {
		pp.held = true
		p.wg.Add(1)
		go p.hold(pp)
		return
	}
	p.wg.Add(1)
	go p.forward(pp)
}

// hold reads and discards what the client sends until it gives up.
func (p *proxy) hold(pp *pipe) {
	defer p.wg.Done()
	_, _ = io.Copy(io.Discard, pp.client)
	p.drop(pp)
}

func (p *proxy) forward(pp *pipe) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.upstream, p.dialTO)
	if err != nil {
		// The service behind is stopped: the client sees its connection
		// closed at once, as with a refused port.
		p.drop(pp)
		return
	}
	p.mu.Lock()
	if pp.held || p.mode == ModeBlackhole {
		pp.held = true
		p.mu.Unlock()
		s.Close()
		_, _ = io.Copy(io.Discard, pp.client)
		p.drop(pp)
		return
	}
	pp.server = s
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, pp.client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(pp.client, s); done <- struct{}{} }()
	<-done
	p.mu.Lock()
	held := pp.held
	p.mu.Unlock()
	if held {
		// Blackholed mid-stream: the server side is cut, the client hangs
		// until it gives up (or the proxy closes).
		s.Close()
		_, _ = io.Copy(io.Discard, pp.client)
	}
	p.drop(pp)
	s.Close()
	<-done
}

func (p *proxy) drop(pp *pipe) {
	pp.client.Close()
	p.mu.Lock()
	delete(p.conns, pp)
	p.mu.Unlock()
}

// SetMode switches the proxy's behaviour; connections open when it
// switches to refuse are reset, to blackhole are left hanging.
func (p *proxy) SetMode(mode ProxyMode) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mode == p.mode {
		return nil
	}
	switch mode {
	case ModeForward:
		if p.ln == nil {
			ln, err := listenRetry(p.host, p.port)
			if err != nil {
				return fmt.Errorf("proxy %s: listen again on %d: %w", p.name, p.port, err)
			}
			p.mode = mode
			p.serve(ln)
			return nil
		}
		for pp := range p.conns {
			if pp.held {
				pp.client.Close()
			}
		}
	case ModeRefuse:
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		for pp := range p.conns {
			if tc, ok := pp.client.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // reset, not a polite close
			}
			pp.client.Close()
			if pp.server != nil {
				pp.server.Close()
			}
		}
	case ModeBlackhole:
		if p.ln == nil {
			ln, err := listenRetry(p.host, p.port)
			if err != nil {
				return fmt.Errorf("proxy %s: listen again on %d: %w", p.name, p.port, err)
			}
			p.serve(ln)
		}
		for pp := range p.conns {
			pp.held = true
			if pp.server != nil {
				pp.server.Close()
			}
		}
	default:
		return fmt.Errorf("proxy %s: unknown mode %q", p.name, mode)
	}
	p.mode = mode
	return nil
}

// Close stops the proxy and closes every connection.
func (p *proxy) Close() error {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for pp := range p.conns {
		pp.client.Close()
		if pp.server != nil {
			pp.server.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// listenRetry listens on a port the proxy held a moment ago.
func listenRetry(host string, port int) (net.Listener, error) {
	var err error
	for i := 0; i < 20; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
			return ln, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}
