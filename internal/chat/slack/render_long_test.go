package slack

import (
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// sectionTexts are the mrkdwn texts of a part's section blocks.
func sectionTexts(t *testing.T, p part) []string {
	t.Helper()
	js, _ := json.Marshal(p.blocks)
	var raw []map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range raw {
		if tx, ok := b["text"].(map[string]any); ok && tx["type"] == "mrkdwn" {
			out = append(out, tx["text"].(string))
		}
	}
	return out
}

// A document longer than a message is posted whole over several: every
// line arrives once, in order, no section over Slack's limit, no message
// over 50 blocks, every code block closed in the section that opens it.
func TestALongDocumentIsSplitNeverCut(t *testing.T) {
	var b strings.Builder
	var want []string
	b.WriteString("Report <!channel> & co\n\nSteps:\n```\n")
	want = append(want, "Report <!channel> & co", "", "Steps:")
	for i := range 3000 {
		l := fmt.Sprintf("  step_%04d  done  04:00:%02d.00Z  <@U%04d> & a summary that goes on for a while", i, i%60, i)
		b.WriteString(l + "\n")
		want = append(want, l)
	}
	b.WriteString("```\n")
	long := strings.Repeat("a very long reason & more ", 400) + "END"
	b.WriteString(long + "\nRTO: 12s\n")
	want = append(want, long, "RTO: 12s")
	parts := renderAll(chat.Message{View: &chat.DocumentView{Title: "Report of run r-1", Markdown: b.String()}})
	if len(parts) < 2 {
		t.Fatalf("%d part(s) for %d bytes", len(parts), b.Len())
	}
	var got strings.Builder
	for i, p := range parts {
		if len(p.blocks) > maxBlocks {
			t.Errorf("part %d has %d blocks", i, len(p.blocks))
		}
		if !strings.Contains(p.text, fmt.Sprintf("(%d of %d)", i+1, len(parts))) {
			t.Errorf("part %d's text %q does not say which part it is", i, p.text)
		}
		for _, s := range sectionTexts(t, p) {
			if len(s) > maxSectionText {
				t.Errorf("a section of %d bytes", len(s))
			}
			if strings.Count(s, "```")%2 != 0 {
				t.Errorf("a section leaves a code block open: …%s", s[max(0, len(s)-80):])
			}
			if strings.Contains(s, "<!channel>") || strings.Contains(s, "<@U") {
				t.Fatalf("unescaped text: %.80s", s)
			}
			got.WriteString(s + "\n")
		}
	}
	// Put the pieces back: drop the fences the split added, undo the
	// escaping, join a line split over sections.
	var lines []string
	for _, l := range strings.Split(html.UnescapeString(got.String()), "\n") {
		if l != "```" {
			lines = append(lines, l)
		}
	}
	joined := strings.Join(lines, "\n")
	for _, w := range want {
		if w != "" && !strings.Contains(joined, w) && !strings.Contains(strings.ReplaceAll(joined, "\n", ""), w) {
			t.Fatalf("line lost: %.100q", w)
		}
	}
	if i, j := strings.Index(joined, "step_0000"), strings.Index(joined, "step_2999"); i < 0 || j < i || !strings.Contains(joined, "END\nRTO: 12s") {
		t.Error("lines out of order")
	}
}

// A plain text message longer than Slack keeps is several messages.
func TestALongTextIsSplitNeverCut(t *testing.T) {
	var lines []string
	for i := range 2000 {
		lines = append(lines, fmt.Sprintf("line %04d <x> of a long answer", i))
	}
	parts := renderAll(chat.Message{Text: strings.Join(lines, "\n")})
	if len(parts) < 2 {
		t.Fatalf("%d part(s)", len(parts))
	}
	var got strings.Builder
	for i, p := range parts {
		if len(p.text) > maxText || len(p.blocks) != 0 {
			t.Errorf("part %d: %d bytes, %d blocks", i, len(p.text), len(p.blocks))
		}
		if i > 0 && !strings.HasPrefix(p.text, fmt.Sprintf("_(continued, %d of %d)_", i+1, len(parts))) {
			t.Errorf("part %d does not say it continues: %.40q", i, p.text)
		}
		got.WriteString(p.text + "\n")
	}
	for _, l := range lines {
		if !strings.Contains(got.String(), strings.ReplaceAll(strings.ReplaceAll(l, "<", "&lt;"), ">", "&gt;")) {
			t.Fatalf("lost %q", l)
		}
	}
}

// Where something must be cut (a field, the notification text), the cut
// says so.
func TestACutSaysItCut(t *testing.T) {
	reason := strings.Repeat("é&", 1500) // 4500 bytes, escaped 9000
	_, blocks := Render(chat.Message{View: &chat.PlanView{Runbook: "r", Reason: reason, State: "pending", Required: 2, RunID: "r-1"}})
	js, _ := json.Marshal(blocks)
	if !strings.Contains(string(js), "more characters)_") {
		t.Errorf("the cut reason does not say it was cut: %.300s", js)
	}
	text, _ := Render(chat.Message{View: &chat.StepFailedView{RunID: "r", StepID: "s", Error: strings.Repeat("e", 5000)}})
	if len(text) > maxFallback || !strings.Contains(text, "more characters)_") {
		t.Errorf("fallback of %d bytes: %.80q…", len(text), text[max(0, len(text)-60):])
	}
	if got := cutMD(esc(strings.Repeat("&", 100)), 60); !strings.HasSuffix(strings.SplitN(string(got), "…", 2)[0], "&amp;") {
		t.Errorf("an entity was cut in two: %q", got)
	}
}
