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
