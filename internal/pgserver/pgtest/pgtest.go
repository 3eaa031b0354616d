// Package pgtest is the test plumbing of packages whose tests run against
// a real PostgreSQL server (package pgserver): one server per test
// package, started in TestMain, and a fresh database per test; or a
// server of a test's own.
//
//	func TestMain(m *testing.M) { pgtest.Main(m, "postgres store") }
//
//	func TestX(t *testing.T) {
//		dsn := pgtest.Database(t) // an empty database of the test's own
//		...
//	}
//
// A server that cannot start (PostgreSQL not installed, say) is a
// failure naming what needs it, never a skip.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/pgserver"
)

// StartTimeout bounds starting a server.
const StartTimeout = time.Minute

var (
	shared *pgserver.Server
	seq    atomic.Int64
)

// Main is a package's TestMain: it starts the server that Server and
// Database use, runs the tests, stops the server and exits with the
// tests' code. A server that cannot start fails the package with
// "<name> tests need a PostgreSQL server: …".
func Main(m *testing.M, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	srv, err := pgserver.Start(ctx, pgserver.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s tests need a PostgreSQL server: %v\n", name, err)
		os.Exit(1)
	}
	shared = srv
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the test PostgreSQL server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Server is the server Main started; it fails t when Main did not run.
func Server(t testing.TB) *pgserver.Server {
	t.Helper()
	if shared == nil {
		t.Fatal("pgtest: no server: call pgtest.Main from the package's TestMain")
	}
	return shared
}

// Database creates an empty database on the package's server, named
// after the test, and returns its DSN.
func Database(t testing.TB) string {
	t.Helper()
	return NewDatabase(t, Server(t))
}

// NewDatabase creates an empty database on srv, named after the test,
// and returns its DSN.
func NewDatabase(t testing.TB, srv *pgserver.Server) string {
	t.Helper()
	name := databaseName(t.Name(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.CreateDatabase(ctx, name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return srv.DSNFor(name)
}

// Start starts a server of the test's own, stopped when the test ends.
func Start(t testing.TB) *pgserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	srv, err := pgserver.Start(ctx, pgserver.Options{})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// databaseName is a valid, unique database name for a test: its name in
// lower case letters and digits (at most 40), then a sequence number.
func databaseName(test string, n int64) string {
	s := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(test), "_"), "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return fmt.Sprintf("t_%s_%d", s, n)
}
