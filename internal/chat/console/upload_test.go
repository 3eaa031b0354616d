package console

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/chat"
)

// The console writes a shared file under its upload directory (created
// if missing, a file of that name replaced) and prints its path in the
// thread, after the comment.
func TestUploadWritesTheFileAndPrintsItsPath(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	dir := filepath.Join(t.TempDir(), "reports")
	p.SetUploadDir(dir)
	ctx := context.Background()
	card, _ := p.Post(ctx, "#incident-lab", chat.Message{Text: "card"})
	png := []byte("\x89PNG\r\n\x1a\nbytes")
	for _, data := range [][]byte{[]byte("old"), png} {
		if err := p.Upload(ctx, card, chat.File{Name: "r1-timeline.png", Data: data, Comment: "The timeline of run r1"}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "r1-timeline.png")
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, png) {
		t.Fatalf("file %q: %v", got, err)
	}
	want := "[#incident-lab] ↳ in thread of message 1:\n  The timeline of run r1\n  r1-timeline.png saved to " + path
	if !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("the directory holds %d entries, want the one file (no temporary left)", len(left))
	}
}

func TestUploadRefusesPathsAndSaysWhenNothingIsSaved(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	ctx := context.Background()
	if err := p.Upload(ctx, chat.MessageRef{Channel: "#c"}, chat.File{Name: "r1-report.md", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "[#c] file:\n  r1-report.md not saved: the console has no upload directory") {
		t.Errorf("output:\n%s", out.String())
	}
	dir := t.TempDir()
	p.SetUploadDir(dir)
	for _, name := range []string{"", "../x.md", "a/b.md", "..", `a\b`} {
		if err := p.Upload(ctx, chat.MessageRef{Channel: "#c"}, chat.File{Name: name, Data: []byte("x")}); err == nil {
			t.Errorf("Upload(%q) succeeded", name)
		}
	}
	if left, _ := os.ReadDir(filepath.Dir(dir)); len(left) != 1 {
		t.Errorf("a refused name wrote something next to the directory: %v", left)
	}
}
