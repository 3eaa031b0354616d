package builtin_test

import (
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
}

func TestSeedRunbooksAreNamedAfterTheirFiles(t *testing.T) {
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{mimirFailover, mimirFailback, maipFailover, maipFailback} {
		rb, err := runbook.Load(filepath.Join(runbooksDir, f), reg)
		if err != nil {
			t.Errorf("load %s: %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(f, ".yaml"); rb.Name != want {
			t.Errorf("%s: name %q, want %q (the name /failover start uses)", f, rb.Name, want)
		}
		if len(rb.Assess) == 0 || len(rb.Phases) == 0 {
			t.Errorf("%s: %d assess checks and %d phases, want some of each", f, len(rb.Assess), len(rb.Phases))
		}
	}
}

func TestRegistryHasEveryPackage(t *testing.T) {
	reg, err := builtin.Registry()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"postgres.promote", "redis.promote", "http.check", "kubernetes.scale", "aws.route53.shiftWeights", "gate"} {
		if _, ok := reg.Kind(kind); !ok {
			t.Errorf("kind %s is not registered", kind)
		}
	}
	for _, ct := range []string{"postgres", "redis", "kubernetes", "aws"} {
		if _, ok := reg.ConnectionType(ct); !ok {
			t.Errorf("connection type %s is not registered", ct)
		}
	}
	for _, name := range reg.Kinds() {
		k, _ := reg.Kind(name)
		if k.Doc() == "" {
			t.Errorf("kind %s has no Doc", name)
		}
	}
}
