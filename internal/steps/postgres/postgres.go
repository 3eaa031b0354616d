// Package postgres holds the PostgreSQL step kinds: replication lag,
// promotion, queries with assertions, and rejoining an old primary as a
// standby for failback. Every network call has a deadline; DSN passwords
// never appear in errors.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/failoverbot/failoverbot/internal/secret"
	"github.com/failoverbot/failoverbot/internal/steps"
)

// ConnectionType is the postgres connection type: a libpq DSN (URL or
// key=value), which may hold ${secret:…} references. Its Check parses the
// DSN (no connection is made).
var ConnectionType = steps.ConnectionType{Name: "postgres", Required: []string{"dsn"}, Check: checkConnection}

// checkConnection parses the connection's DSN as the kinds would.
func checkConnection(_ context.Context, c *steps.Connection) error {
	_, err := newServer("postgres", c.Name, c.Fields["dsn"], time.Second, nil, nil)
	return err
}

// Kinds returns the PostgreSQL step kinds.
func Kinds() []steps.Kind {
	return []steps.Kind{
		steps.ProbeKind(spec("postgres.replicationLag", "standby replay lag and WAL bytes behind are within thresholds", "lag", "bytes"), newReplicationLag),
		steps.StepKind(spec("postgres.promote", "promote a standby with pg_promote, verified by pg_is_in_recovery()", "lsn", "timeline", "lagAtPromotion"), newPromote),
		steps.ProbeKind(spec("postgres.query", "run SQL (rolled back unless commit) and assert on rows and values", "rows", "value"), newQuery),
		steps.StepKind(spec("postgres.rejoinAsStandby", "old primary rejoins as a streaming standby of the new one (pg_rewind or base backup)", "method", "receiver"), newRejoin),
	}
}

// spec is the Spec of a kind on a postgres connection.
func spec(name, doc string, outputs ...string) steps.Spec {
	return steps.Spec{Name: name, Doc: doc, Connection: ConnectionType.Name, Outputs: outputs}
}

// Register adds the postgres connection type and kinds to r.
func Register(r *steps.Registry) error {
	if err := r.RegisterConnection(ConnectionType); err != nil {
		return err
	}
	return r.Register(Kinds()...)
}

// server is a PostgreSQL server reached by a DSN, with the deadline every
// call gets and a redactor that knows its password.
type server struct {
	kind    string
	name    string // connection name, for messages
	cfg     *pgx.ConnConfig
	timeout time.Duration
	red     *secret.Redactor
	log     *slog.Logger
}

// newServer parses a DSN without ever echoing it: a parse error names the
// connection, not its value. red (the run's, from steps.Env) learns the
// DSN and its password.
func newServer(kind, name, dsn string, timeout time.Duration, red *secret.Redactor, log *slog.Logger) (*server, error) {
	if dsn == "" {
		return nil, steps.Permanentf("%s: connection %s has no dsn", kind, name)
	}
	if steps.IsTemplate(dsn) {
		return nil, steps.Permanentf("%s: the dsn of %s still holds an unexpanded template", kind, name)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, steps.Permanentf("%s: the dsn of connection %s does not parse (value not shown)", kind, name)
	}
	if red == nil {
		red = &secret.Redactor{}
	}
	red.Add(cfg.Password)
	red.Add(dsn)
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > timeout {
		cfg.ConnectTimeout = timeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{kind: kind, name: name, cfg: cfg, timeout: timeout, red: red, log: log}, nil
}

func fromEnv(kind string, env steps.Env, timeout time.Duration) (*server, error) {
	if env.Conn == nil {
		return nil, steps.Permanentf("%s: needs a postgres connection", kind)
	}
	return newServer(kind, env.Conn.Name, env.Conn.Fields["dsn"], timeout, env.Redactor, env.Logger)
}

// addr is host:port for messages.
func (s *server) addr() string { return fmt.Sprintf("%s:%d", s.cfg.Host, s.cfg.Port) }

// connect opens a connection within the call timeout.
func (s *server) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, s.cfg)
	if err != nil {
		// Callers wrap once more with the kind; scrub here already.
		return nil, s.red.ScrubError(fmt.Errorf("connect to %s (%s): %w", s.name, s.addr(), err))
	}
	return c, nil
}

// call bounds one round trip by the call timeout, naming it when it fires.
func (s *server) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, fmt.Errorf("no answer from %s within %s", s.addr(), s.timeout))
}

// query runs fn on a fresh connection; every round trip is bounded.
func (s *server) with(ctx context.Context, fn func(ctx context.Context, c *pgx.Conn) error) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(cctx)
	}()
	return fn(ctx, c)
}

// wrap adds what was being done, scrubs secrets, names the deadline that
// fired, and marks errors that retrying cannot fix as permanent.
func (s *server) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", s.timeout, err)
	}
	wrapped := s.red.ScrubError(fmt.Errorf("%s: %s: %w", s.kind, msg, err))
	if permanentPG(err) {
		return steps.Permanent(wrapped)
	}
	return wrapped
}

// permanentPG reports server errors retrying cannot fix: bad credentials,
// missing database or role, syntax and undefined-object errors.
func permanentPG(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch {
	case strings.HasPrefix(pe.Code, "28"): // invalid authorization
		return true
	case pe.Code == "3D000": // invalid catalog name
		return true
	case strings.HasPrefix(pe.Code, "42"): // syntax error or access rule violation
		return true
	}
	return false
}
