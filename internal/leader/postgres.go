package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Advisory lock keys (pg_advisory_lock(int4, int4)): "fold" in ASCII, then
// 1 for the leader of the periodic work. The presence locks use the 64-bit
// form (presenceKey) and the migrations 0x6661696c6f766572 ("failover").
const (
	lockSpace  int32 = 0x666f6c64
	leaderLock int32 = 1
)

// Postgres is the elector of processes sharing a PostgreSQL store.
type Postgres struct {
	dsn string
	o   Options
	log *slog.Logger

	leading atomic.Bool
	mu      sync.Mutex // guards conn
	conn    *pgx.Conn
}

var _ Elector = (*Postgres)(nil)

// NewPostgres returns the elector for the database at dsn (DATABASE_URL).
// It connects in Run. log may be nil.
func NewPostgres(dsn string, o Options, log *slog.Logger) (*Postgres, error) {
	if o.Owner == "" {
		return nil, errors.New("leader: Options.Owner is required")
	}
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return nil, fmt.Errorf("leader: %w", err) // pgconn redacts the password
	}
	o.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Postgres{dsn: dsn, o: o, log: log}, nil
}

// Leading reports whether this process holds the leader lock, as of its
// last check of the session.
func (p *Postgres) Leading() bool { return p.leading.Load() }

// Run keeps the session, bids for the lock and checks the session every
// CheckEvery until ctx is done; then it resigns (closing the session
// releases the locks).
func (p *Postgres) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	defer p.resign("")
	backoff := p.o.CheckEvery
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		wait := p.o.CheckEvery
		if err := p.check(ctx); err != nil && ctx.Err() == nil {
			p.o.OnStore(err)
			p.resign("the store's database cannot be reached: " + err.Error())
			wait = backoff
			backoff = min(2*backoff, 8*p.o.CheckEvery)
		} else {
			p.o.OnStore(nil)
			backoff = p.o.CheckEvery
		}
		t.Reset(wait)
	}
}

// check connects if needed, then checks the session (leader) or bids for
// the lock (follower), under CheckTimeout.
func (p *Postgres) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.CheckTimeout)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		conn, err := p.connect(ctx)
		if err != nil {
			return err
		}
		p.conn = conn
	}
	if p.leading.Load() {
		if err := p.conn.Ping(ctx); err != nil {
			p.dropLocked()
			return fmt.Errorf("check the leader's session: %w", err)
		}
		return nil
	}
	var got bool
	if err := p.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, $2)", lockSpace, leaderLock).Scan(&got); err != nil {
		p.dropLocked()
		return fmt.Errorf("ask for the leader lock: %w", err)
	}
	if got {
		p.leading.Store(true)
		p.log.Info("leading: this process now runs the expiry sweeps and notification catch-up", "owner", p.o.Owner)
		p.o.OnChange(true)
	}
	return nil
}

// connect opens the session: named after the owner, with TCP keepalives
// that make the server end it (and release its locks) within about 11s of
// this process falling silent, and the owner's presence lock.
func (p *Postgres) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(p.dsn)
	if err != nil {
		return nil, fmt.Errorf("leader session: %w", err)
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > p.o.CheckTimeout {
		cfg.ConnectTimeout = p.o.CheckTimeout
	}
	name := "failover-bot " + p.o.Owner
	if len(name) > 63 {
		name = name[:63]
	}
	cfg.RuntimeParams["application_name"] = name
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("leader session: connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", presenceKey(p.o.Owner)).Scan(&ok); err != nil || !ok {
		_ = conn.Close(context.Background())
		if err == nil {
			err = fmt.Errorf("another session holds the presence of %s", p.o.Owner)
		}
		return nil, fmt.Errorf("leader session: presence lock: %w", err)
	}
	return conn, nil
}

// resign stops leading (if it did) and says why ("": stopping).
func (p *Postgres) resign(why string) {
	if p.leading.Swap(false) {
		if why == "" {
			p.log.Info("no longer leading: stopping", "owner", p.o.Owner)
		} else {
			p.log.Warn("no longer leading", "owner", p.o.Owner, "why", why)
		}
		p.o.OnChange(false)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropLocked()
}

// dropLocked closes the session (the server releases its locks); resign
// follows, and says so if it led.
func (p *Postgres) dropLocked() {
	if p.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.conn.Close(ctx)
	p.conn = nil
}

// Alive reports whether the process that uses owner as its lease owner is
// still connected to the database (it holds its presence lock). It is
// asked on this process's session.
func (p *Postgres) Alive(ctx context.Context, owner string) (bool, error) {
	if owner == "" {
		return false, nil
	}
	if owner == p.o.Owner {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.CheckTimeout)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return false, errors.New("is " + owner + " alive: this process has no session to the store")
	}
	k := uint64(presenceKey(owner))
	var alive bool
	err := p.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
		AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1 AND granted)`,
		int64(k>>32), int64(k&0xffffffff)).Scan(&alive)
	if err != nil {
		return false, fmt.Errorf("is %s alive: %w", owner, err)
	}
	return alive, nil
}

// Leader names the process that leads ("" when none), from the sessions
// holding the leader lock.
func (p *Postgres) Leader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.CheckTimeout)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return "", errors.New("who leads: this process has no session to the store")
	}
	var name string
	err := p.conn.QueryRow(ctx, `SELECT coalesce(max(a.application_name), '') FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = $1::oid AND l.objid = $2::oid AND l.objsubid = 2 AND l.granted`,
		lockSpace, leaderLock).Scan(&name)
	if err != nil {
		return "", fmt.Errorf("who leads: %w", err)
	}
	if len(name) > len("failover-bot ") {
		name = name[len("failover-bot "):]
	}
	return name, nil
}
