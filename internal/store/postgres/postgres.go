// Package postgres is the PostgreSQL store (pgx/v5, a connection pool), for
// production and for several bot instances sharing one database. Schema
// migrations are embedded and applied at start under an advisory lock; the
// one-active-run-per-runbook rule is a partial unique index, so it holds
// across processes.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/failoverbot/failoverbot/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// migrationLock is the pg_advisory_lock key that serializes migrations of
// concurrently starting processes ("failover" in ASCII).
const migrationLock int64 = 0x6661696c6f766572

// ConnectTimeout bounds each connection attempt when the DSN sets none.
const ConnectTimeout = 10 * time.Second

// Store is the PostgreSQL store. It is safe for concurrent use, also by
// several processes sharing the database.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, as in DATABASE_URL) and applies the embedded migrations. Errors
// never contain the DSN's password. logger may be nil.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts the password in parse errors.
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = ConnectTimeout
	}
	target := fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", target, err)
	}
	s := &Store{pool: pool, log: logger.With("store", "postgres", "db", target), now: time.Now}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", target, err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the embedded migrations not yet in schema_migrations,
// each in its own transaction, holding a session advisory lock so that
// processes starting together apply each migration once.
func (s *Store) migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			// A connection still holding the lock must not go back to the pool.
			_ = conn.Hijack().Close(uctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := 0
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", name, err)
		}
		var done bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", version).Scan(&done); err != nil {
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		if done {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", name, err)
		}
		applied++
	}
	if applied > 0 {
		s.log.InfoContext(ctx, "schema migrated", "applied", applied)
	}
	return nil
}

// Constraint names the store maps to its errors.
const (
	activeRunIndex = "runs_one_active"
	runsPrimaryKey = "runs_pkey"
)

func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func isActiveRunViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == "23505" && pe.ConstraintName == activeRunIndex
}

func isPrimaryKeyViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == "23505" && pe.ConstraintName == runsPrimaryKey
}

func isForeignKeyViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == "23503"
}
