package leader

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Local is the elector of processes sharing an SQLite store on one host: an
// exclusive flock on a file beside the database, released by the kernel
// when its holder exits.
type Local struct {
	path    string
	o       Options
	log     *slog.Logger
	leading atomic.Bool
}

var _ Elector = (*Local)(nil)

// NewLocal returns the elector holding path (e.g. the store file plus
// ".leader"). log may be nil.
func NewLocal(path string, o Options, log *slog.Logger) *Local {
	o.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Local{path: path, o: o, log: log}
}

// Leading reports whether this process holds the lock.
func (l *Local) Leading() bool { return l.leading.Load() }

// Run asks for the lock every CheckEvery until it gets it, then holds it
// until ctx is done.
func (l *Local) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f, err := l.try()
		if err != nil {
			l.log.Warn("leader lock file", "path", l.path, "err", err)
		}
		if f == nil {
			t.Reset(l.o.CheckEvery)
			continue
		}
		l.leading.Store(true)
		l.log.Info("leading: this process now runs the expiry sweeps and notification catch-up", "owner", l.o.Owner)
		l.o.OnChange(true)
		<-ctx.Done()
		l.leading.Store(false)
		l.o.OnChange(false)
		return f.Close()
	}
}

// try returns the locked file, or nil when another process holds it.
func (l *Local) try() (*os.File, error) {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, nil
		}
		return nil, fmt.Errorf("flock: %w", err)
	}
	return f, nil
}
