package kube_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverbot/failoverbot/internal/lab/kube"
)

func TestFindBinDirWithoutTheBinariesNamesMakeKubeBin(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "etcd"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(kube.BinEnv, empty)
	_, err := kube.FindBinDir(t.Context())
	if !errors.Is(err, kube.ErrNoBinaries) || !strings.Contains(err.Error(), "make kube-bin") ||
		!strings.Contains(err.Error(), "missing: kube-apiserver, kube-controller-manager, kube-scheduler, kwok") {
		t.Fatalf("FindBinDir with %s=%s: %v", kube.BinEnv, empty, err)
	}
	// And the cluster does not start.
	if _, err := kube.Start(t.Context(), kube.Options{}); !errors.Is(err, kube.ErrNoBinaries) {
		t.Errorf("Start without the binaries: %v, want ErrNoBinaries", err)
	}
}

// scripts/kube-bin --cached never builds: on an empty cache it exits 3 and
// says how to build.
func TestKubeBinScriptCachedOnlyOnAnEmptyCache(t *testing.T) {
	cmd := exec.Command("../../../scripts/kube-bin", "--cached")
	cmd.Env = append(os.Environ(), "FAILOVER_CACHE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "run 'make kube-bin'") {
		t.Fatalf("kube-bin --cached on an empty cache: %v:\n%s", err, out)
	}
}

func TestFindBinDirFindsTheBuiltBinaries(t *testing.T) {
	dir, err := kube.FindBinDir(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range kube.Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s in %s: %v", b, dir, err)
		}
	}
}
