package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/failoverbot/failoverbot/internal/lab"
	"github.com/failoverbot/failoverbot/internal/lab/labtest"
	"github.com/failoverbot/failoverbot/internal/pgserver"
)

// needLabBinaries fails tb, saying what to install, when the lab's
// servers (Debian packages postgresql, redis-server, redis-sentinel) are
// not installed: a failure, never a skip (scripts/install-deps installs
// them).
func needLabBinaries(tb testing.TB) {
	tb.Helper()
	var missing []string
	if _, err := pgserver.FindBinDir(); err != nil {
		missing = append(missing, err.Error())
	}
	for _, name := range []string{"redis-server", "redis-sentinel"} {
		if !haveProgram(name) {
			missing = append(missing, name+" not found (apt-get install redis-server redis-sentinel)")
		}
	}
	if len(missing) == 0 {
		return
	}
	tb.Fatalf("the lab needs PostgreSQL and Redis (scripts/install-deps installs them): %v", missing)
}

// haveProgram looks for name where the lab does: PATH, then the usual
// binary directories.
func haveProgram(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// upFailedLab starts a lab whose primary region then blackholes every
// connection (the failure that hangs naive tools). The lab is torn down
// when tb ends.
func upFailedLab(tb testing.TB) *lab.Lab {
	tb.Helper()
	return labtest.Failed(tb, lab.FailBlackhole)
}
