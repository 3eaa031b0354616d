package postgres_test

import (
	"testing"

	"github.com/failoverbot/failoverbot/internal/store/storetest"
)

func TestDeliveryLogConformance(t *testing.T) {
	storetest.RunDeliveryLog(t, func(t *testing.T) storetest.LogStore { return open(t, freshDB(t)) })
}
