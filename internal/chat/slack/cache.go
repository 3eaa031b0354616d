package slack

import (
	"sync"
	"time"
)

// ttlSet remembers keys for a while, in bounded memory: the oldest key is
// forgotten first when full. It deduplicates redelivered event IDs.
type ttlSet struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	now  func() time.Time
	seen map[string]time.Time
	fifo []string // insertion order; may hold stale entries
}

func newTTLSet(ttl time.Duration, max int, now func() time.Time) *ttlSet {
	return &ttlSet{ttl: ttl, max: max, now: now, seen: make(map[string]time.Time)}
}

// Add records key and reports whether it was new (not seen within the TTL).
func (s *ttlSet) Add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if at, ok := s.seen[key]; ok && now.Sub(at) < s.ttl {
		return false
	}
	s.evict(now)
	s.seen[key] = now
	s.fifo = append(s.fifo, key)
	return true
}

// evict drops expired keys from the front, then the oldest while full.
func (s *ttlSet) evict(now time.Time) {
	i := 0
	for ; i < len(s.fifo); i++ {
		k := s.fifo[i]
		at, ok := s.seen[k]
		if ok && now.Sub(at) < s.ttl && len(s.seen) < s.max {
			break
		}
		if ok {
			delete(s.seen, k)
		}
	}
	if i > 0 {
		s.fifo = append(s.fifo[:0:0], s.fifo[i:]...)
	}
}

// Remove forgets key (its stale FIFO entry is skipped later).
func (s *ttlSet) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, key)
}

// Len is the number of remembered keys.
func (s *ttlSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// ttlCache is a small bounded cache with expiry (users.info answers).
type ttlCache[V any] struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	now func() time.Time
	m   map[string]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newTTLCache[V any](ttl time.Duration, max int, now func() time.Time) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, now: now, m: make(map[string]cached[V])}
}

// Get returns the cached value of key, if fresh.
func (c *ttlCache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || c.now().Sub(e.at) >= c.ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put caches v under key, evicting when full.
func (c *ttlCache[V]) Put(key string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		for k := range c.m { // still full: drop an arbitrary entry
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = cached[V]{v: v, at: now}
}
