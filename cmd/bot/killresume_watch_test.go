package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/store"
)

// snapshot is what the store says about the newest run.
type snapshot struct {
	runID string
	state store.RunState
	steps map[string]stepRow
}

type stepRow struct {
	status   store.StepStatus
	attempts int
}

// is reports whether step id has one of the statuses ("" for no record).
func (s snapshot) is(id string, statuses ...store.StepStatus) bool {
	st := s.steps[id].status
	for _, want := range statuses {
		if st == want {
			return true
		}
	}
	return false
}

func (s snapshot) String() string {
	var b strings.Builder
	for _, id := range []string{"hold_before_promote", "promote_db", "db_writable", "promote_redis", "hold_mid_redis", "sentinels_to_dr"} {
		r, ok := s.steps[id]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%s=%s/%d ", id, r.status, r.attempts)
	}
	return strings.TrimSpace(b.String())
}

// watcher reads the bot's SQLite store read-only (and the DR PostgreSQL's
// recovery state) while the bot runs.
type watcher struct {
	db  *sql.DB
	pg  *pgx.Conn
	tap *pgTap
}

func newWatcher(ctx context.Context, storePath, dsn string, tap *pgTap) (*watcher, error) {
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+storePath+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open the store read-only: %w", err)
	}
	w := &watcher{db: db, tap: tap}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.pg, err = pgx.Connect(cctx, dsn); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to the DR PostgreSQL: %w", err)
	}
	return w, nil
}

func (w *watcher) close() {
	if w.db != nil {
		w.db.Close()
		w.db = nil
	}
	if w.pg != nil {
		w.pg.Close(context.Background())
		w.pg = nil
	}
}

// snapshot reads the newest run and its step states.
func (w *watcher) snapshot(ctx context.Context) (snapshot, error) {
	s := snapshot{steps: map[string]stepRow{}}
	err := w.db.QueryRowContext(ctx, "SELECT id, state FROM runs ORDER BY created_at DESC LIMIT 1").Scan(&s.runID, &s.state)
	if err != nil {
		return s, err
	}
	rows, err := w.db.QueryContext(ctx, "SELECT step_id, status, attempts FROM steps WHERE run_id = ?", s.runID)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r stepRow
		if err := rows.Scan(&id, &r.status, &r.attempts); err != nil {
			return s, err
		}
		s.steps[id] = r
	}
	return s, rows.Err()
}

// promoted reports whether the DR PostgreSQL is out of recovery.
func (w *watcher) promoted(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var inRecovery bool
	if err := w.pg.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return false, fmt.Errorf("DR PostgreSQL: %w", err)
	}
	return !inRecovery, nil
}

// until polls until ready holds, the bot exits, or timeout, and returns
// what it saw outside the store.
func (w *watcher) until(ctx context.Context, ready func(snapshot, observed) bool, exited <-chan struct{}, timeout time.Duration) (observed, error) {
	deadline := time.Now().Add(timeout)
	var last snapshot
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return observed{}, fmt.Errorf("the bot exited before the kill point; store: %s", last)
		default:
		}
		// Outside the store first: what was seen then happened before
		// the store was read.
		var o observed
		var err error
		o.promoteHeld = w.tap.Held()
		if o.promoted, err = w.promoted(ctx); err != nil {
			return o, err
		}
		if s, err := w.snapshot(ctx); err == nil {
			last = s
			if ready(s, o) {
				return o, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return observed{}, fmt.Errorf("no kill point within %s; store: %s", timeout, last)
}

// withHost returns dsn (a postgres:// URL) with its host:port replaced.
func withHost(t *testing.T, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("the lab's DSN does not parse") // never print it: it holds a password
	}
	u.Host = hostport
	return u.String()
}

// hostPort is the host:port of dsn (a postgres:// URL).
func hostPort(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal("the lab's DSN does not parse")
	}
	return u.Host
}
