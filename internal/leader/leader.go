// Package leader elects, among the bot processes sharing one store, the one
// that does the periodic work that must happen once and not once per
// replica: the approval expiry sweep and the notification pipeline's
// resend/catch-up scan. Executing runs needs no leader (each run has its
// own lease in the store); only these background loops do.
//
// With PostgreSQL (Postgres) every process keeps one dedicated session to
// the store's database for its whole life. On it the process holds a
// session advisory lock named after its lease owner (its presence: Alive
// asks pg_locks whether another process still holds its lock), and bids
// for the leader lock with pg_try_advisory_lock. The server releases both
// the moment the session ends: a SIGKILLed leader's socket closes and the
// next bid wins at once; a leader cut off from the database stops leading
// as soon as its own check of the session fails (every CheckEvery, bounded
// by CheckTimeout), and the server drops its session after the TCP
// keepalives it was told to use go unanswered. No table, no migration,
// nothing to clean up, and leading implies that the store is reachable.
//
// With the embedded SQLite store (one host) Local holds an flock on a file
// beside the database instead.
package leader

import (
	"context"
	"hash/fnv"
	"time"
)

// Elector is one process's side of the election.
type Elector interface {
	// Run takes part in the election until ctx is done, then resigns.
	Run(ctx context.Context) error
	// Leading reports whether this process leads now.
	Leading() bool
}

// Options configure an elector.
type Options struct {
	// Owner is this process's lease owner (the executor's: instance name
	// and nonce), shown as the leader and used for its presence.
	Owner string
	// CheckEvery is how often the session is checked and, when not
	// leading, the leader lock asked for (default 2s).
	CheckEvery time.Duration
	// CheckTimeout bounds each check (default 2s): a leader whose check
	// does not answer in time stops leading.
	CheckTimeout time.Duration
	// OnChange is called (from Run's goroutine) when this process starts
	// or stops leading.
	OnChange func(leading bool)
	// OnStore, if set, is told whether the last attempt to reach the
	// database worked (for /readyz and the store_up gauge).
	OnStore func(err error)
}

func (o *Options) setDefaults() {
	if o.CheckEvery <= 0 {
		o.CheckEvery = 2 * time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 2 * time.Second
	}
	if o.OnChange == nil {
		o.OnChange = func(bool) {}
	}
	if o.OnStore == nil {
		o.OnStore = func(error) {}
	}
}

// Static is an elector that always (or never) leads: a process alone with
// its store, and tests.
type Static bool

// Run waits for ctx.
func (s Static) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Leading reports s.
func (s Static) Leading() bool { return bool(s) }

// presenceKey is the 64-bit advisory lock key of an owner's presence.
func presenceKey(owner string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("failover-bot presence\x00" + owner))
	return int64(h.Sum64())
}
