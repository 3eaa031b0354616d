package console

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
)

func TestEditsArePrintedOnlyWhenTheyChangeSomething(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	ctx := context.Background()
	card := &chat.ProgressView{RunID: "lab-1", Runbook: "lab", State: "running", Requester: "oncall-1",
		Phases: []chat.PhaseProgress{{Name: "Database", Status: "running", Steps: []chat.StepProgress{{ID: "promote_db", Status: "running"}}}}}
	ref, err := p.Post(ctx, "#incident-lab", chat.Message{View: card})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Update(ctx, ref, chat.Message{View: card}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "(edited)") {
		t.Errorf("an unchanged edit was printed:\n%s", out.String())
	}
	done := *card
	done.State = "succeeded"
	if err := p.Update(ctx, ref, chat.Message{View: &done}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[#incident-lab] message 1 (edited):\n  ┌ run lab-1 · lab · SUCCEEDED") {
		t.Errorf("the changed card was not reprinted:\n%s", out.String())
	}
	if err := p.Update(ctx, chat.MessageRef{Channel: "#x", TS: "99"}, chat.Message{Text: "hi"}); err == nil {
		t.Error("an edit of an unknown message succeeded")
	}
}

func TestEphemeralErrorsAreCounted(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	ctx := context.Background()
	_ = p.Ephemeral(ctx, "#c", "oncall-2", chat.Message{Text: "recorded"})
	_ = p.Ephemeral(ctx, "#c", "oncall-2", chat.Message{Text: "refused", Error: true})
	if p.Errors() != 1 {
		t.Errorf("Errors() = %d, want 1", p.Errors())
	}
	if !strings.Contains(out.String(), "[#c] (only oncall-2 sees this):\n  refused") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestRenderStepFailed(t *testing.T) {
	got := Render(chat.Message{Text: "fallback", View: &chat.StepFailedView{RunID: "lab-1", StepID: "promote_db", Error: "refused"}})
	want := "✗ step promote_db of run lab-1 failed: refused\n  retry: /failover retry lab-1 promote_db · skip: /failover skip lab-1 promote_db · abort: /failover abort lab-1"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if Render(chat.Message{Text: "plain"}) != "plain" {
		t.Error("a plain message is not its text")
	}
}

func TestSplitAs(t *testing.T) {
	tests := []struct{ in, rest, as string }{
		{"/approve last --as oncall-2", "/approve last", "oncall-2"},
		{"/approve last --as=oncall-3", "/approve last", "oncall-3"},
		{"/failover status", "/failover status", ""},
	}
	for _, tt := range tests {
		rest, as, err := splitAs(tt.in)
		if err != nil || rest != tt.rest || as != tt.as {
			t.Errorf("splitAs(%q) = %q, %q, %v", tt.in, rest, as, err)
		}
	}
}
