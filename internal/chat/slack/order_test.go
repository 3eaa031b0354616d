package slack

import (
	"testing"
	"time"
)

// A ticket whose job was never queued (queue full) does not hold up the
// next ones, and a later ticket waits for an earlier one still running.
func TestTurnsPassOverAnUnqueuedTicket(t *testing.T) {
	tr := newTurns()
	first, unqueued, third := tr.issue("k"), tr.issue("k"), tr.issue("k")
	tr.done("k", unqueued)
	released := make(chan struct{})
	go func() {
		tr.wait("k", third)
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("the third ticket ran before the first was done")
	case <-time.After(50 * time.Millisecond):
	}
	tr.wait("k", first)
	tr.done("k", first)
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the third ticket still waits after the first was done and the second was never queued")
	}
	tr.done("k", third)
	if len(tr.keys) != 0 {
		t.Errorf("finished keys are kept: %v", tr.keys)
	}
	tr.wait("other", tr.issue("other")) // a first ticket does not wait
}
