package slack

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// coalescer sends message updates at most once per interval per channel.
// Only the latest content of each message is kept while it waits, so the
// newest card always lands and stale ones are never sent.
type coalescer struct {
	interval time.Duration
	send     func(ctx context.Context, ref chat.MessageRef, m chat.Message) error
	log      *slog.Logger

	mu      sync.Mutex
	chans   map[string]*channelQueue
	running int
	idle    chan struct{} // closed when running drops to 0
}

type channelQueue struct {
	pending  map[string]chat.Message // ts -> latest content
	order    []string                // ts in arrival order
	lastSent time.Time
	running  bool
}

func newCoalescer(interval time.Duration, send func(context.Context, chat.MessageRef, chat.Message) error, log *slog.Logger) *coalescer {
	idle := make(chan struct{})
	close(idle)
	return &coalescer{interval: interval, send: send, log: log, chans: map[string]*channelQueue{},
		idle: idle}
}

// Enqueue records m as the latest content of ref and makes sure a sender
// runs for ref's channel.
func (c *coalescer) Enqueue(ref chat.MessageRef, m chat.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.chans[ref.Channel]
	if q == nil {
		q = &channelQueue{pending: map[string]chat.Message{}}
		c.chans[ref.Channel] = q
	}
	if _, ok := q.pending[ref.TS]; !ok {
		q.order = append(q.order, ref.TS)
	}
	q.pending[ref.TS] = m
	if !q.running {
		q.running = true
		if c.running == 0 {
			c.idle = make(chan struct{})
		}
		c.running++
		go c.run(ref.Channel, q)
	}
	return nil
}

func (c *coalescer) run(channel string, q *channelQueue) {
	for {
		c.mu.Lock()
		if len(q.order) == 0 {
			q.running = false
			c.running--
			if c.running == 0 {
				close(c.idle)
			}
			c.mu.Unlock()
			return
		}
		wait := time.Until(q.lastSent.Add(c.interval))
		c.mu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		c.mu.Lock()
		ts := q.order[0]
		q.order = q.order[1:]
		m := q.pending[ts]
		delete(q.pending, ts)
		c.mu.Unlock()

		err := c.send(context.Background(), chat.MessageRef{Channel: channel, TS: ts}, m)

		c.mu.Lock()
		q.lastSent = time.Now()
		if errors.Is(err, errRateLimited) {
			// Still limited after every attempt: keep it (unless newer
			// content arrived meanwhile) so nothing is lost.
			if _, newer := q.pending[ts]; !newer {
				q.pending[ts] = m
				q.order = append(q.order, ts)
			}
		}
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("slack: message update failed", "channel", channel, "ts", ts, "err", err)
		}
	}
}

// Flush waits until no update is queued or being sent.
func (c *coalescer) Flush(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
