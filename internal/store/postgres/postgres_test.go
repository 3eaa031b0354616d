package postgres_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/failoverbot/failoverbot/internal/pgserver/pgtest"
	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/postgres"
	"github.com/failoverbot/failoverbot/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m, "postgres store") }

// freshDB creates an empty database and returns its DSN.
func freshDB(t testing.TB) string { return pgtest.Database(t) }

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, freshDB(t)) })
}

// TestTwoProcesses: two stores with their own pools on one database, as two
// bot processes sharing PostgreSQL.
func TestTwoProcesses(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := freshDB(t)
		return open(t, dsn), open(t, dsn)
	})
}

func TestConcurrentStartsMigrateOnce(t *testing.T) {
	dsn := freshDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, dsn, nil)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("start %d: %v", i, err)
		}
	}
	s := open(t, dsn) // and once more on a migrated database
	if err := s.CreateRun(context.Background(), &store.Run{ID: "r1", Runbook: "rb", State: store.RunPending}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dsn := range []string{
		// Nothing listens on port 1.
		"postgres://bot:hunter2-secret@127.0.0.1:1/failover?sslmode=disable&connect_timeout=2",
		// Wrong password on the real server (trust auth accepts any, so use a bad database instead).
		strings.Replace(pgtest.Server(t).DSNFor("no_such_db"), "postgres@", "postgres:hunter2-secret@", 1),
		"postgres://bot:hunter2-secret@127.0.0.1:notaport/x",
	} {
		_, err := postgres.Open(ctx, dsn, nil)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", dsn)
		}
		t.Log(err)
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestAuditIsAppendOnlyInTheDatabase(t *testing.T) {
	dsn := freshDB(t)
	s := open(t, dsn)
	ctx := context.Background()
	if err := s.Append(ctx, &store.AuditEvent{RunID: "r1", Type: "run.requested", Message: "original"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"UPDATE audit_events SET message = 'rewritten'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		if _, err := conn.Exec(ctx, sql); err == nil {
			t.Errorf("%s succeeded", sql)
		}
	}
	ev, err := s.Audit(ctx, "r1")
	if err != nil || len(ev) != 1 || ev[0].Message != "original" {
		t.Fatalf("audit after tampering: %v, %v", ev, err)
	}
}

// TestSilentServerDoesNotHangOpen: a server that accepts connections and
// then never answers (as a host dropping packets after the handshake) makes
// Open fail at the caller's deadline instead of hanging.
func TestSilentServerDoesNotHangOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // held open, never answered
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = postgres.Open(ctx, "postgres://bot@"+l.Addr().String()+"/db?sslmode=disable", nil)
	if err == nil {
		t.Fatal("Open succeeded against a silent server")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Open took %s", d)
	}
	t.Log(err)
}
