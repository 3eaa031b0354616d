package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/failoverbot/failoverbot/internal/store/storetest"
)

func TestDeliveryLogConformance(t *testing.T) {
	storetest.RunDeliveryLog(t, func(t *testing.T) storetest.LogStore {
		return open(t, filepath.Join(t.TempDir(), "failover.db"))
	})
}

// migrations is the number of embedded schema migrations: each is applied
// once.
func migrations(t testing.TB) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}
