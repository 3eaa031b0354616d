package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// BinEnv names the environment variable holding the directory of the
// binaries (`make test` sets it from scripts/kube-bin).
const BinEnv = "FAILOVER_KUBE_BIN"

// Binaries are the programs a cluster runs, all in one directory.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// ErrNoBinaries means the binaries are not built; its message says how to
// build them.
var ErrNoBinaries = errors.New("the Kubernetes binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) are not built: " +
	"run `make kube-bin` once (10-20 minutes on 2 cores, then cached), or set " + BinEnv + " to a directory holding them")

// FindBinDir returns the directory of the binaries: $FAILOVER_KUBE_BIN when
// set, else what `scripts/kube-bin --cached` prints (the script is found by
// walking up from the working directory). It never builds: when they are
// missing it returns an error wrapping ErrNoBinaries.
func FindBinDir(ctx context.Context) (string, error) {
	if dir := os.Getenv(BinEnv); dir != "" {
		if err := checkBinDir(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinEnv, dir, err)
		}
		return dir, nil
	}
	script, err := findScript()
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoBinaries, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "--cached")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w (%s --cached: %v: %s)", ErrNoBinaries, script, err, strings.TrimSpace(stderr.String()))
	}
	dir := strings.TrimSpace(stdout.String())
	if err := checkBinDir(dir); err != nil {
		return "", fmt.Errorf("%s printed %q: %w", script, dir, err)
	}
	return dir, nil
}

// checkBinDir reports the binaries missing from dir.
func checkBinDir(dir string) error {
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w; missing: %s", ErrNoBinaries, strings.Join(missing, ", "))
	}
	return nil
}

// findScript looks for scripts/kube-bin in the working directory and its
// parents (tests run in their package's directory).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "kube-bin")
		if _, err := os.Stat(p); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "tools", "kube", "go.mod")); err == nil {
				return p, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/kube-bin not found above the working directory")
		}
		dir = parent
	}
}
