package slack

import "sync"

// turns hands out tickets in the order events arrive on the socket and
// lets the workers handle the events of one key (a person's reactions on
// one message) in that order, so that a reaction_removed is not handled
// before the reaction_added it undoes.
type turns struct {
	mu   sync.Mutex
	cond *sync.Cond
	keys map[string]*turn
}

type turn struct {
	issued, served uint64
	skipped        map[uint64]bool // tickets whose job was never queued
}

func newTurns() *turns {
	t := &turns{keys: map[string]*turn{}}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// issue returns the next ticket of key.
func (t *turns) issue(key string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys[key]
	if k == nil {
		k = &turn{skipped: map[uint64]bool{}}
		t.keys[key] = k
	}
	k.issued++
	return k.issued
}

// wait blocks until every earlier ticket of key is done.
func (t *turns) wait(key string, ticket uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.keys[key] != nil && t.keys[key].served != ticket-1 {
		t.cond.Wait()
	}
}

// done ends ticket's turn (also for a ticket whose job was never queued:
// the turn then passes over it).
func (t *turns) done(key string, ticket uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.keys[key]
	if k == nil {
		return
	}
	k.skipped[ticket] = true
	for k.skipped[k.served+1] {
		delete(k.skipped, k.served+1)
		k.served++
	}
	if k.served == k.issued {
		delete(t.keys, key)
	}
	t.cond.Broadcast()
}
