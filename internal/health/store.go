package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// StoreMonitor probes the store every Every and remembers the last answer:
// /readyz reports it, and losing or regaining the store is logged once.
type StoreMonitor struct {
	// Probe reads the store (e.g. one run); it gets Timeout.
	Probe   func(ctx context.Context) error
	Every   time.Duration // default 5s
	Timeout time.Duration // default 3s
	Logger  *slog.Logger
	// OnChange, if set, is called with the new state (metrics).
	OnChange func(up bool)
	// Scrub, if set, cleans an error before /readyz shows it (the store's
	// errors are logged through the scrubbing logger already).
	Scrub func(string) string

	mu    sync.Mutex
	err   error
	known bool
	since time.Time
}

// Run probes until ctx is done.
func (m *StoreMonitor) Run(ctx context.Context) {
	every, timeout := m.Every, m.Timeout
	if every <= 0 {
		every = 5 * time.Second
	}
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	log := m.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := m.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		m.set(err, log)
		t.Reset(every)
	}
}

func (m *StoreMonitor) set(err error, log *slog.Logger) {
	m.mu.Lock()
	was, known := m.err == nil, m.known
	m.err, m.known = err, true
	up := err == nil
	if !known || was != up {
		m.since = time.Now()
	}
	m.mu.Unlock()
	switch {
	case known && was && !up:
		log.Error("store unreachable: this replica executes nothing until it answers again (runs it executes stop when their leases end, and another replica takes them over); /readyz fails",
			"err", err)
	case known && !was && up:
		log.Info("store reachable again")
	case !known && !up:
		log.Error("store unreachable at start; /readyz fails until it answers", "err", err)
	}
	if (!known || was != up) && m.OnChange != nil {
		m.OnChange(up)
	}
}

// Check is the readiness check of the store: the last probe's verdict.
func (m *StoreMonitor) Check(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known {
		return errors.New("not probed yet")
	}
	if m.err != nil {
		msg := m.err.Error()
		if m.Scrub != nil {
			msg = m.Scrub(msg)
		}
		return fmt.Errorf("unreachable for %s: %s", time.Since(m.since).Round(time.Second), msg)
	}
	return nil
}
