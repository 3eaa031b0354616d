package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/failoverbot/failoverbot/internal/store"
	"github.com/failoverbot/failoverbot/internal/store/sqlite"
)

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "failover.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning, Params: map[string]string{"a": "b"}}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, &store.AuditEvent{RunID: "r1", Type: "run.started"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	got, err := s.GetRun(ctx, "r1")
	if err != nil || got.Params["a"] != "b" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	// The lock survives the restart too.
	if err := s.CreateRun(ctx, &store.Run{ID: "r2", Runbook: "rb", State: store.RunPending}); err == nil {
		t.Error("a second active run was created after reopening")
	}
	db := rawDB(t, path)
	var n int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != migrations(t) {
		t.Errorf("schema_migrations rows = %d, %v; want %d (each applied once)", n, err, migrations(t))
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestConcurrentOpensMigrateOnce: bots starting together on a new file all
// open it (none fails with SQLITE_BUSY while another switches it to WAL) and
// the schema is applied once. The openers start at one instant, so that they
// race the switch from the rollback journal to WAL; each round races on a
// new file, as the switch happens once per file.
func TestConcurrentOpensMigrateOnce(t *testing.T) {
	const rounds, openers = 4, 8
	for round := range rounds {
		path := filepath.Join(t.TempDir(), "failover.db")
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, openers)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := sqlite.Open(context.Background(), path, nil)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, open %d: %v", round, i, err)
			}
		}
		db := rawDB(t, path)
		var n int
		if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != migrations(t) {
			t.Errorf("round %d: schema_migrations rows = %d, %v; want %d", round, n, err, migrations(t))
		}
		var mode string
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("round %d: journal_mode = %q, %v; want wal", round, mode, err)
		}
	}
}

func TestAuditIsAppendOnlyInTheDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "failover.db")
	s := open(t, path)
	if err := s.Append(ctx, &store.AuditEvent{RunID: "r1", Type: "run.requested", Message: "original"}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{"UPDATE audit_events SET message = 'rewritten'", "DELETE FROM audit_events"} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s succeeded", q)
		}
	}
	ev, err := s.Audit(ctx, "r1")
	if err != nil || len(ev) != 1 || ev[0].Message != "original" {
		t.Fatalf("audit after tampering: %v, %v", ev, err)
	}
}

func TestInMemory(t *testing.T) {
	s := open(t, ":memory:")
	ctx := context.Background()
	if err := s.CreateRun(ctx, &store.Run{ID: "r1", Runbook: "rb", State: store.RunRunning}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRun(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"", "x.db?mode=ro", filepath.Join(t.TempDir(), "missing-dir", "x.db")} {
		if s, err := sqlite.Open(context.Background(), path, nil); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A store made by an earlier version (the first migration only) is
// upgraded in place: its approvals become those of the start requests,
// and its active run keeps the runbook's lock.
func TestAnOlderStoreIsUpgradedKeepingItsApprovals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "failover.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	init, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{string(init),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO runs VALUES ('r1','rb','h',NULL,'U1','','pending_approval','',1,NULL,NULL,'C','1.1','','','',NULL,1)`,
		`INSERT INTO approvals VALUES ('r1','U2','approve','h',2)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("set up the old store: %v", err)
		}
	}
	db.Close()
	s := open(t, path)
	as, err := s.Approvals(ctx, "r1")
	if err != nil || len(as) != 1 || as[0].User != "U2" || as[0].Gate != "" || as[0].Decision != store.Approve {
		t.Fatalf("approvals after the upgrade: %+v, %v", as, err)
	}
	if err := s.CreateRun(ctx, &store.Run{ID: "r2", Runbook: "rb", State: store.RunPending}); err == nil {
		t.Error("the upgraded store lost the runbook's lock")
	}
}
