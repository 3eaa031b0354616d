package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
