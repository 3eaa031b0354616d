package main

import (
	"strings"
	"testing"
)

func TestLabUpFlags(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runBot(t, "lab", "-dir", dir, "up", "--frobnicate"); code != 2 || !strings.Contains(errs, "--kubernetes") {
		t.Errorf("lab up --frobnicate: exit %d, want 2 and the usage naming --kubernetes:\n%s", code, errs)
	}
	if code, _, errs := runBot(t, "lab", "-dir", dir, "up", "--kubernetes", "extra"); code != 2 {
		t.Errorf("lab up --kubernetes extra: exit %d, want 2:\n%s", code, errs)
	}
}

// Without the binaries, `bot lab up --kubernetes` says how to build them
// and starts nothing.
func TestLabUpKubernetesWithoutBinariesNamesMakeKubeBin(t *testing.T) {
	needLabBinaries(t)
	t.Setenv("FAILOVER_KUBE_BIN", t.TempDir())
	dir := t.TempDir()
	code, out, errs := runBot(t, "lab", "-dir", dir, "up", "--kubernetes")
	if code != 1 || !strings.Contains(errs, "make kube-bin") || !strings.Contains(errs, "missing: etcd, kube-apiserver") {
		t.Fatalf("exit %d, want 1 and a message naming make kube-bin:\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, "lab up in") {
		t.Errorf("a lab came up:\n%s", out)
	}
}
