package builtin_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/runbook"
	"github.com/failoverbot/failoverbot/internal/steps/builtin"
)

// runbooksDir is the repository's runbooks/ directory.
const runbooksDir = "../../../runbooks"

func TestEveryRunbookLoads(t *testing.T) {
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatalf("builtin.Registry: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(runbooksDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no runbooks in %s", runbooksDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := runbook.Load(f, reg); err != nil {
				t.Errorf("load %s:\n%v", f, err)
			}
		})
	}
	_ = os.Getenv
	_ = strings.TrimSpace
}
