package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverbot/failoverbot/internal/runbook"
)

func TestDirCatalogReloadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	writeFile(t, path, strings.Replace(labYAML, "%s", "", 1))
	c, err := NewDirCatalog(dir, testRegistry(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := c.Get("lab")
	if err != nil {
		t.Fatal(err)
	}
	before := rb.PlanHash(nil)

	// An edit is seen at once, even within the same mtime tick.
	writeFile(t, path, strings.Replace(labYAML, "%s", "      - {id: scale_apps, kind: test.step}\n", 1))
	rb2, err := c.Get("lab")
	if err != nil {
		t.Fatal(err)
	}
	if rb2.PlanHash(nil) == before || rb2.Step("scale_apps") == nil {
		t.Error("the edited runbook was not reloaded")
	}

	// A new file appears in List.
	writeFile(t, filepath.Join(dir, "other.yml"), strings.Replace(strings.Replace(labYAML, "name: lab", "name: other", 1), "%s", "", 1))
	if got := len(c.List()); got != 2 {
		t.Errorf("List has %d runbooks, want 2", got)
	}

	// A broken file is left out, with an error that names it; the others stay.
	writeFile(t, path, "name: lab\nbogus: [\n")
	if _, err := c.Get("lab"); err == nil || !strings.Contains(err.Error(), `unknown runbook "lab" (runbooks: other)`) || !strings.Contains(err.Error(), "lab.yaml") {
		t.Errorf("Get of a broken runbook: %v", err)
	}
	if c.LoadError() == nil {
		t.Error("LoadError is nil after a broken file")
	}
	if _, err := c.Get("other"); err != nil {
		t.Errorf("a broken file took the other runbook down: %v", err)
	}

	// A removed file disappears.
	if err := os.Remove(filepath.Join(dir, "other.yml")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get("other"); err == nil {
		t.Error("a removed runbook is still served")
	}
}

func TestListSaysWhichRunbookFilesDoNotLoad(t *testing.T) {
	f := newFixture(t)
	writeFile(t, filepath.Join(f.dir, "broken.yaml"), "name: broken\nphases: 3\n")
	out := f.command("visitor", "list")
	if !strings.Contains(out.text(), "• lab — Fail the lab over") || !strings.Contains(out.text(), "some runbook files do not load") ||
		!strings.Contains(out.text(), "broken.yaml") {
		t.Errorf("list says %q", out.text())
	}
}

// frozenInfo is a stat whose every field stays put across writes, as on
// a file system whose clock is coarser than two quick edits.
type frozenInfo struct {
	os.FileInfo
	mtime time.Time
}

func (f frozenInfo) ModTime() time.Time { return f.mtime }
func (f frozenInfo) Sys() any           { return nil }

// Two edits of the same size within the file system's clock tick leave
// the stat unchanged: a file modified within the settle window is read
// again, so the second edit is still seen; once settled, an unchanged stat
// means the file is not read at all.
func TestDirCatalogSeesTwoQuickSameSizeEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lab.yaml")
	v1 := strings.Replace(labYAML, "%s", "      - {id: aaaa_apps, kind: test.step}\n", 1)
	v2 := strings.Replace(labYAML, "%s", "      - {id: bbbb_apps, kind: test.step}\n", 1)
	writeFile(t, path, v1)
	now := time.Now()
	mtime := now
	reads := 0
	c, err := NewDirCatalog(dir, testRegistry(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.now = func() time.Time { return now }
	c.stat = func(name string) (os.FileInfo, error) {
		fi, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		return frozenInfo{FileInfo: fi, mtime: mtime}, nil
	}
	c.read = func(name string) ([]byte, error) { reads++; return os.ReadFile(name) }
	c.mu.Unlock()
	if rb, err := c.Get("lab"); err != nil || rb.Step("aaaa_apps") == nil {
		t.Fatalf("first version: %v", err)
	}
	writeFile(t, path, v2) // same size, same (frozen) stat
	if rb, err := c.Get("lab"); err != nil || rb.Step("bbbb_apps") == nil {
		t.Fatalf("the second quick edit was not seen: %v", err)
	}
	// Later, the same stat vouches for the contents: no read.
	now = now.Add(10 * time.Second)
	_, _ = c.Get("lab") // read once more, now settled
	reads = 0
	for range 5 {
		if _, err := c.Get("lab"); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 0 {
		t.Errorf("a settled, unchanged file was read %d times", reads)
	}
	// A change of the stat is seen at once.
	writeFile(t, path, v1)
	mtime = now
	if rb, err := c.Get("lab"); err != nil || rb.Step("aaaa_apps") == nil {
		t.Fatalf("an edit with a new mtime was not seen: %v", err)
	}
}

// A runbook file over the size cap is refused with an error that names it
// and the cap; it is never read, and the other runbooks are served.
func TestARunbookOverTheSizeCapIsRefused(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lab.yaml"), strings.Replace(labYAML, "%s", "", 1))
	big := filepath.Join(dir, "huge.yaml")
	writeFile(t, big, "name: huge\n"+strings.Repeat("# padding\n", runbook.MaxFileSize/10+1))
	c, err := NewDirCatalog(dir, testRegistry(t), nil)
	if err == nil || !strings.Contains(err.Error(), "huge.yaml: the file is larger than 1048576 bytes (1 MiB), the limit of a runbook") {
		t.Fatalf("load error = %v", err)
	}
	if _, err := c.Get("lab"); err != nil {
		t.Errorf("a big file took the other runbook down: %v", err)
	}
	if _, err := c.Get("huge"); err == nil || !strings.Contains(err.Error(), "huge.yaml") {
		t.Errorf("Get(huge) = %v, want an error naming the file", err)
	}
}
