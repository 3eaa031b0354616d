package card

import (
	"context"
	"errors"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/report"
	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/store"
)

func (n *Notifier) runbook(ctx context.Context, runID string) *runbook.Runbook {
	if n.o.Runbooks == nil {
		return nil
	}
	run, err := n.o.Store.GetRun(ctx, runID)
	if err != nil {
		return nil
	}
	rb, err := n.o.Runbooks(run.Runbook)
	if err != nil {
		return nil
	}
	return rb
}

// errOtherOwner: the run has no card yet and another replica, which holds
// its lease, posts it.
var errOtherOwner = errors.New("the replica executing the run posts its card")

// ensureCard returns the run's card, posting it first if it has none
// (posted is then true: the card shows the current state). Another
// replica's run gets no card from here (errOtherOwner) until that replica
// has stored it.
func (n *Notifier) ensureCard(ctx context.Context, runID string) (ref chat.MessageRef, posted bool, err error) {
	n.postMu.Lock()
	defer n.postMu.Unlock()
	run, err := n.o.Store.GetRun(ctx, runID)
	if err != nil {
		return chat.MessageRef{}, false, fmt.Errorf("card of %s: %w", runID, err)
	}
	if run.Card.TS != "" {
		return chat.MessageRef(run.Card), false, nil
	}
	if ref, ok := n.posted[runID]; ok { // posted, but storing the reference failed
		return ref, false, nil
	}
	if n.o.Self != nil && run.Owner != "" && run.Owner != n.o.Self() && run.LeaseUntil.After(n.o.Now()) {
		return chat.MessageRef{}, false, fmt.Errorf("card of %s: %w (%s)", runID, errOtherOwner, run.Owner)
	}
	rb := n.runbook(ctx, runID)
	channel := n.o.Channel
	if rb != nil && rb.Channel != "" {
		channel = rb.Channel
	}
	if channel == "" {
		channel = run.ApprovalMsg.Channel
	}
	v, err := report.Progress(ctx, n.o.Store, rb, runID, n.o.Now())
	if err != nil {
		return chat.MessageRef{}, false, err
	}
	ref, err = n.o.Poster.Post(ctx, channel, chat.Message{Text: cardText(v), View: v})
	if err != nil {
		return chat.MessageRef{}, false, fmt.Errorf("post card of %s in %s: %w", runID, channel, err)
	}
	n.posted[runID] = ref
	if err := n.o.Store.SetCard(ctx, runID, store.MessageRef(ref)); err != nil {
		// Kept in n.posted: this process keeps editing it; a restarted one
		// would post a new card.
		n.log.ErrorContext(ctx, "store card reference", "run", runID, "err", err)
	}
	return ref, true, nil
}
