package card

import (
	"fmt"

	"github.com/failoverbot/failoverbot/internal/chat"
	"github.com/failoverbot/failoverbot/internal/events"
)

func cardText(v *chat.ProgressView) string {
	s := fmt.Sprintf("Run %s of %s: %s", v.RunID, v.Runbook, v.State)
	if v.Current != "" {
		s += " — " + v.Current
	}
	return s
}

// threadMessage is what an event adds to the card's thread, if anything.
func threadMessage(e events.Event) (chat.Message, bool) {
	step := e.StepID
	switch e.Type {
	case events.StepDone:
		return chat.Message{Text: fmt.Sprintf("✓ %s done: %s", step, e.Summary)}, true
	case events.StepSkipped:
		return chat.Message{Text: fmt.Sprintf("⤼ %s skipped: %s", step, e.Summary)}, true
	case events.StepRetrying:
		return chat.Message{Text: fmt.Sprintf("↻ %s: transient error, retrying: %s", step, e.Error)}, true
	case events.StepFailed:
		return chat.Message{Text: fmt.Sprintf("✗ %s failed: %s — retry, skip or abort", step, e.Error), Error: true,
			View: &chat.StepFailedView{RunID: e.RunID, StepID: step, Error: e.Error}}, true
	case events.RunPaused:
		return chat.Message{Text: "⏸ run paused" + suffix(e.Summary)}, true
	case events.RunResumed:
		return chat.Message{Text: "▶ run resumed" + suffix(e.Summary)}, true
	case events.RunSucceeded:
		return chat.Message{Text: "✅ run succeeded" + suffix(e.Summary)}, true
	case events.RunFailed:
		why := e.Error
		if why == "" {
			why = e.Summary
		}
		return chat.Message{Text: "❌ run failed: " + why, Error: true}, true
	case events.RunAborted:
		return chat.Message{Text: "⛔ run aborted" + suffix(e.Summary)}, true
	}
	return chat.Message{}, false
}

// suffix is ": s", or "" for an empty s.
func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
