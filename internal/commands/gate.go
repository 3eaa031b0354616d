package commands

import (
	"context"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
	"github.com/failoverbot/failoverbot/internal/store"
)

// The approval request of a gate step: when the executor announces that a
// gate waits, the handler posts the gate's message in the run's thread
// (the progress card's), with the approve/reject reactions and buttons of
// the start request, and records where (Executor.GatePosted); the message
// is edited as approvals come and when the gate is decided. The handler is
// an events.Sink for this.

// GateEvent handles a gate's event (gate.waiting, gate.approved,
// gate.rejected, gate.expired; others are ignored): it posts or edits the
// gate's approval request. The notification pipeline calls it, retrying
// on an error, so that a chat outage delays the request without losing it.
func (h *Handler) GateEvent(ctx context.Context, e events.Event) error {
	switch e.Type {
	case events.GateWaiting, events.GateApproved, events.GateRejected, events.GateExpired:
		return h.gateEvent(ctx, e)
	}
	return nil
}

func (h *Handler) gateEvent(ctx context.Context, e events.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := h.ballotByButton(ctx, e.RunID+"/"+e.StepID)
	if err != nil {
		return err
	}
	state := map[events.Type]string{events.GateWaiting: "waiting", events.GateApproved: "approved",
		events.GateRejected: "rejected", events.GateExpired: "expired"}[e.Type]
	if e.Type != events.GateWaiting || b.msg.TS != "" {
		return h.renderGate(ctx, b, state)
	}
	// Post it where the run's people look: the card's thread, else the
	// runbook's channel.
	v := h.gateView(ctx, b, state)
	m := chat.Message{Text: gateText(v), View: v}
	var ref chat.MessageRef
	if b.run.Card.TS != "" {
		ref, err = h.o.Poster.Reply(ctx, chat.MessageRef(b.run.Card), m)
	} else {
		channel := b.run.ApprovalMsg.Channel
		if rb, rerr := h.o.Catalog.Get(b.run.Runbook); rerr == nil && rb.Channel != "" {
			channel = rb.Channel
		}
		ref, err = h.o.Poster.Post(ctx, channel, m)
	}
	if err != nil {
		return fmt.Errorf("post the approval request of %s: %w", b.what(), err)
	}
	if err := h.o.Executor.GatePosted(ctx, b.run.ID, b.gate, store.MessageRef{Channel: ref.Channel, TS: ref.TS}); err != nil {
		return fmt.Errorf("record the approval request of %s: %w", b.what(), err)
	}
	return nil
}

// updateGate edits a gate's request after a decision of one person.
func (h *Handler) updateGate(ctx context.Context, b *ballot) {
	if err := h.renderGate(ctx, b, "waiting"); err != nil {
		h.log.WarnContext(ctx, "edit gate request", "run", b.run.ID, "gate", b.gate, h.errAttr(err))
	}
}

func (h *Handler) renderGate(ctx context.Context, b *ballot, state string) error {
	if b.msg.TS == "" {
		return nil
	}
	v := h.gateView(ctx, b, state)
	if err := h.o.Poster.Update(ctx, b.msg, chat.Message{Text: gateText(v), View: v}); err != nil {
		return fmt.Errorf("edit the approval request of %s: %w", b.what(), err)
	}
	return nil
}

func (h *Handler) gateView(ctx context.Context, b *ballot, state string) *chat.GateView {
	v := &chat.GateView{RunID: b.run.ID, Runbook: b.run.Runbook, StepID: b.gate, Name: b.gate, Message: b.message,
		Required: b.required, Approvers: h.approvedBy(ctx, b), ExpiresAt: b.expires, State: state,
		ApproveEmoji: h.o.ApproveEmoji, RejectEmoji: h.o.RejectEmoji}
	if rb, err := h.o.Catalog.Get(b.run.Runbook); err == nil {
		if s := rb.Step(b.gate); s != nil && s.Name != "" {
			v.Name = s.Name
		}
	}
	v.Who = h.describeAccess(b.access)
	if !b.allowRequester {
		v.Who += ", not the requester"
	}
	if !b.allowEarlier {
		v.Who += ", not an earlier approver"
	}
	return v
}

func gateText(v *chat.GateView) string {
	return fmt.Sprintf("Gate %s of run %s: %s (%d/%d approvals, %s)", v.StepID, v.RunID, v.Message, len(v.Approvers), v.Required, v.State)
}
