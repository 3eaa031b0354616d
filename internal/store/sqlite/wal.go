package sqlite

import (
	"context"
	"fmt"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

// useWAL puts the database file in WAL mode, before anything else uses it.
// WAL is a property of the file (its header records it, and every later
// connection of any process opens the file in WAL mode), so it is set once
// here, on the writer, not by every new connection.
//
// Switching a file from the rollback journal to WAL is a read of the header
// followed by an upgrade to a write lock. When processes start together on a
// new file, each can hold the read lock when one of them upgrades; SQLite
// then fails the others at once with SQLITE_BUSY instead of calling the busy
// handler, since waiting while holding a read lock could deadlock
// (https://sqlite.org/c3ref/busy_handler.html). That statement ends and drops
// its read lock, so running it again waits, in SQLite's busy handler, for the
// switch in progress to commit and then finds the file in WAL mode, with no
// write needed. useWAL runs it again on SQLITE_BUSY, starting no try later
// than BusyTimeout after the first (each try may wait that long in the busy
// handler) and none once ctx is done.
func (s *Store) useWAL(ctx context.Context) error {
	deadline := time.Now().Add(BusyTimeout)
	for tries := 1; ; tries++ {
		var mode string
		err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if mode != "wal" { // SQLite keeps the old mode where WAL is not possible
				s.log.WarnContext(ctx, "the database file cannot use WAL mode; readers and the writer will block each other", "journal_mode", mode)
			}
			if tries > 1 {
				s.log.DebugContext(ctx, "journal_mode=WAL raced another opener", "tries", tries)
			}
			return nil
		}
		if code(err)&0xff != sqlite3.SQLITE_BUSY || !time.Now().Before(deadline) {
			return fmt.Errorf("set journal_mode=WAL (try %d): %w", tries, err)
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("set journal_mode=WAL (try %d): %w", tries, ctx.Err())
		case <-t.C:
		}
	}
}
