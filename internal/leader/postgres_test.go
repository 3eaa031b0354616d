package leader_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/leader"
	"github.com/failoverbot/failoverbot/internal/pgserver/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m, "leader") }

// freshDB is a database of the test's own: the advisory locks are per
// database, so tests do not see each other's leaders.
func freshDB(t *testing.T) string { return pgtest.Database(t) }

// candidate is one elector running in the test.
type candidate struct {
	e       *leader.Postgres
	owner   string
	cancel  context.CancelFunc
	done    chan struct{}
	changes chan bool
}

func start(t *testing.T, dsn, owner string) *candidate {
	t.Helper()
	c := &candidate{owner: owner, done: make(chan struct{}), changes: make(chan bool, 16)}
	e, err := leader.NewPostgres(dsn, leader.Options{Owner: owner, CheckEvery: 100 * time.Millisecond,
		CheckTimeout: 500 * time.Millisecond, OnChange: func(l bool) { c.changes <- l }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.e = e
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); _ = e.Run(ctx) }()
	t.Cleanup(c.stop)
	return c
}

func (c *candidate) stop() {
	c.cancel()
	<-c.done
}

// waitLeader waits until exactly one of cs leads and returns it.
func waitLeader(t *testing.T, within time.Duration, cs ...*candidate) *candidate {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var leaders []*candidate
		for _, c := range cs {
			if c.e.Leading() {
				leaders = append(leaders, c)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("%d processes lead at once", len(leaders))
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader within %s", within)
	return nil
}

// Three processes on one database: one leads, and keeps leading while the
// others keep bidding; the others never lead at the same time.
func TestOneLeaderAmongThree(t *testing.T) {
	dsn := freshDB(t)
	cs := []*candidate{start(t, dsn, "bot-a/1"), start(t, dsn, "bot-b/2"), start(t, dsn, "bot-c/3")}
	l := waitLeader(t, 5*time.Second, cs...)
	for range 20 { // 20 checks of each: still one, the same
		time.Sleep(50 * time.Millisecond)
		if got := waitLeader(t, time.Second, cs...); got != l {
			t.Fatalf("leadership moved from %s to %s with nobody leaving", l.owner, got.owner)
		}
	}
	name, err := cs[0].e.Leader(context.Background())
	if err != nil || name != l.owner {
		t.Errorf("Leader() = %q, %v; want %q", name, err, l.owner)
	}
}

// A leader that stops resigns, and another process leads within a check.
func TestLeaderStopsAnotherLeads(t *testing.T) {
	dsn := freshDB(t)
	cs := []*candidate{start(t, dsn, "bot-a/1"), start(t, dsn, "bot-b/2")}
	l := waitLeader(t, 5*time.Second, cs...)
	stopped := time.Now()
	l.stop()
	if l.e.Leading() {
		t.Fatal("a stopped elector still says it leads")
	}
	var rest []*candidate
	for _, c := range cs {
		if c != l {
			rest = append(rest, c)
		}
	}
	waitLeader(t, 2*time.Second, rest...)
	t.Logf("new leader %s after the old one stopped", time.Since(stopped).Round(time.Millisecond))
	if got := <-l.changes; !got {
		t.Error("the first change told to the old leader was not that it leads")
	}
	if got := <-l.changes; got {
		t.Error("the old leader was not told it stopped leading")
	}
}

// The leader's process dies: its socket closes (as a SIGKILLed process's
// does), the server releases its locks at once, and the next bid wins.
// Alive says it is gone.
func TestDeadLeaderReplacedAndNotAlive(t *testing.T) {
	dsn := freshDB(t)
	p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", pgtest.Server(t).Port()))
	dying := start(t, withPort(dsn, p.port()), "bot-dying/1")
	waitLeader(t, 5*time.Second, dying)
	other := start(t, dsn, "bot-other/2")
	time.Sleep(300 * time.Millisecond) // three bids by other, all refused
	if other.e.Leading() {
		t.Fatal("a second process leads while the first holds the lock")
	}
	alive, err := other.e.Alive(context.Background(), "bot-dying/1")
	if err != nil || !alive {
		t.Fatalf("Alive(leader) = %v, %v; want true", alive, err)
	}
	killed := time.Now()
	p.kill() // both ends' sockets close, as on SIGKILL; nothing reconnects
	waitLeader(t, 2*time.Second, other)
	t.Logf("took over %s after the leader's sockets closed", time.Since(killed).Round(time.Millisecond))
	dying.stop() // its goroutine; it reconnects through the proxy otherwise
	alive, err = other.e.Alive(context.Background(), "bot-dying/1")
	if err != nil || alive {
		t.Fatalf("Alive(dead leader) = %v, %v; want false", alive, err)
	}
	if alive, _ := other.e.Alive(context.Background(), "bot-other/2"); !alive {
		t.Error("a process is not alive to itself")
	}
}

// A leader cut off from the database (packets dropped, its socket open)
// stops leading as soon as its check times out, before anyone else can
// take the lock: it never leads blind.
func TestPartitionedLeaderStopsLeading(t *testing.T) {
	dsn := freshDB(t)
	p := newProxy(t, fmt.Sprintf("127.0.0.1:%d", pgtest.Server(t).Port()))
	cut := start(t, withPort(dsn, p.port()), "bot-cut/1")
	waitLeader(t, 5*time.Second, cut)
	p.freeze()
	frozen := time.Now()
	deadline := frozen.Add(3 * time.Second)
	for cut.e.Leading() {
		if time.Now().After(deadline) {
			t.Fatal("a leader whose database does not answer still leads after 3s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the cut-off leader stopped leading %s after the cut", time.Since(frozen).Round(time.Millisecond))
	if first, second := <-cut.changes, <-cut.changes; !first || second {
		t.Errorf("the cut-off leader was told %v then %v, want true then false", first, second)
	}
	// When the server gives the session up (its keepalives unanswered;
	// here: the proxy drops it), another process leads.
	other := start(t, dsn, "bot-other/2")
	time.Sleep(300 * time.Millisecond)
	if other.e.Leading() {
		t.Fatal("another process leads while the server still keeps the cut-off session")
	}
	p.closeAll()
	waitLeader(t, 2*time.Second, other)
}

// withPort is dsn with another port on 127.0.0.1.
func withPort(dsn string, port int) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic(err)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return u.String()
}

// tcpProxy forwards to the database; freeze stops forwarding (sockets stay
// open), closeAll closes every connection.
type tcpProxy struct {
	ln     net.Listener
	up     string
	mu     sync.Mutex
	conns  []net.Conn
	frozen atomic.Bool
}

func newProxy(t *testing.T, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, up: upstream}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	return p
}

func (p *tcpProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.up, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if p.frozen.Load() {
			_, _ = io.Copy(io.Discard, src) // swallowed, never answered
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *tcpProxy) freeze() { p.frozen.Store(true) }

// kill closes the listener and every connection: the process behind it is
// gone.
func (p *tcpProxy) kill() {
	p.ln.Close()
	p.closeAll()
}

func (p *tcpProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
