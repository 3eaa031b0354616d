package runbook

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a runbook or an error, never both.
func FuzzParse(f *testing.F) {
	valid, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte("name: t\nphases:\n- id: p\n  steps:\n  - {id: a, kind: test.check, needs: [a], with: {url: '{{ .steps.a.outputs.x }}'}}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("name: t\nx: {<<: [*y]}\n"))
	f.Add([]byte("---\n---\n"))
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("Parse hangs on %q", data))
			}
		}()
		defer close(done)
		rb, err := Parse("fuzz.yaml", data, reg)
		if (rb == nil) == (err == nil) {
			t.Fatalf("Parse returned %v and %v", rb, err)
		}
		if rb != nil {
			_ = rb.PlanHash(map[string]string{"a": "b"})
		}
	})
}
