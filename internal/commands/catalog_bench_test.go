package commands

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCatalogGetBesideABigFile is a look-up (every reaction and card
// edit makes one) in a runbook directory that also holds a 50 MB file.
func BenchmarkCatalogGetBesideABigFile(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "lab.yaml"), []byte(strings.Replace(labYAML, "%s", "", 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	big := bytes.Repeat([]byte("# a comment line of a very large file\n"), 50<<20/38)
	if err := os.WriteFile(filepath.Join(dir, "huge.yaml"), big, 0o644); err != nil {
		b.Fatal(err)
	}
	// Past the window in which a same-size rewrite could keep its mtime.
	old := time.Now().Add(-time.Minute)
	for _, f := range []string{"lab.yaml", "huge.yaml"} {
		if err := os.Chtimes(filepath.Join(dir, f), old, old); err != nil {
			b.Fatal(err)
		}
	}
	c, _ := NewDirCatalog(dir, testRegistry(b), nil)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := c.Get("lab"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/get")
}
