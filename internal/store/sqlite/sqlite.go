// Package sqlite is the embedded store: one SQLite file (modernc.org/sqlite,
// no cgo) in WAL mode, the default backend, so that the bot runs with no
// database to set up. Writes go through one connection (SQLite has one
// writer at a time anyway; BEGIN IMMEDIATE and busy_timeout serialize
// writers of other processes), reads through a small pool.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/failoverbot/failoverbot/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is the SQLite store. It is safe for concurrent use, also by several
// processes sharing the file.
type Store struct {
	w, r *sql.DB // writer (one connection), readers
	log  *slog.Logger
	now  func() time.Time

	createRun, updateRun, claimRun, putStep, appendEvent, getRun *sql.Stmt
}

// BusyTimeout is how long a write waits for another process's write lock.
const BusyTimeout = 10 * time.Second

// Open opens (creating it if needed) the database file at path and applies
// the embedded schema migrations. logger may be nil.
func Open(ctx context.Context, path string, logger *slog.Logger) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite store %s: the path may not contain '?' or '#'", path)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Per-connection settings only. journal_mode is not among them: WAL is a
	// property of the file, set once by useWAL (see there why not here).
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	memory := path == ":memory:"
	s := &Store{log: logger.With("store", "sqlite"), now: time.Now}
	var err error
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so that two processes never deadlock upgrading read locks.
	if s.w, err = sql.Open("sqlite", path+"?"+q.Encode()+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if memory {
		s.r = s.w // one connection is the whole database
	} else {
		if s.r, err = sql.Open("sqlite", path+"?"+q.Encode()); err != nil {
			s.w.Close()
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		s.r.SetMaxOpenConns(4)
		s.r.SetMaxIdleConns(4)
	}
	if !memory {
		if err := s.useWAL(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return s, nil
}

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, all in one immediate transaction (so concurrent
// openers apply them once).
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migrations: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := 0
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", name, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("apply migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			version, name, s.now().UnixMicro()); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
		applied++
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	if applied > 0 {
		s.log.InfoContext(ctx, "schema migrated", "applied", applied)
	}
	return nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		stmt **sql.Stmt
		sql  string
	}{
		{s.w, &s.createRun, `INSERT INTO runs (` + runCols + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`},
		{s.w, &s.updateRun, `UPDATE runs SET runbook=?, plan_hash=?, params=?, requester=?, reason=?, state=?,
			state_reason=?, created_at=?, started_at=?, ended_at=?, approval_channel=?, approval_ts=?,
			owner=?, lease_until=?, version=version+1
			WHERE id=? AND version=?`},
		{s.w, &s.claimRun, `UPDATE runs SET owner=?1, lease_until=?2, version=version+1
			WHERE id=?3 AND (owner='' OR owner=?1 OR lease_until IS NULL OR lease_until<=?4)
			RETURNING ` + runCols},
		{s.w, &s.putStep, `INSERT INTO steps (run_id, step_id, status, attempts, already_done, summary,
			outputs, error, started_at, ended_at, message_channel, message_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (run_id, step_id) DO UPDATE SET status=excluded.status, attempts=excluded.attempts,
			already_done=excluded.already_done, summary=excluded.summary, outputs=excluded.outputs,
			error=excluded.error, started_at=excluded.started_at, ended_at=excluded.ended_at,
			message_channel=excluded.message_channel, message_ts=excluded.message_ts`},
		{s.w, &s.appendEvent, `INSERT INTO audit_events (run_id, at, actor, type, step_id, message, data)
			VALUES (?,?,?,?,?,?,?)`},
		{s.r, &s.getRun, `SELECT ` + runCols + ` FROM runs WHERE id=?`},
	} {
		st, err := p.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.stmt = st
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.createRun, s.updateRun, s.claimRun, s.putStep, s.appendEvent, s.getRun} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite store: %w", err)
	}
	return nil
}

// code returns the SQLite extended result code of err, or 0.
func code(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isActiveRunViolation(err error) bool { return code(err) == sqlite3.SQLITE_CONSTRAINT_UNIQUE }
func isPrimaryKeyViolation(err error) bool {
	return code(err) == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
func isForeignKeyViolation(err error) bool {
	return code(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
