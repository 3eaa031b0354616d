package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/failoverbot/failoverbot/internal/store"
)

var _ store.Keys = (*Store)(nil)

// Key returns the key named name, making it first if there is none.
func (s *Store) Key(ctx context.Context, name string) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("make key %s: %w", name, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO bot_keys (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("make key %s: %w", name, err)
	}
	var v string
	if err := s.pool.QueryRow(ctx, `SELECT value FROM bot_keys WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("read key %s: %w", name, err)
	}
	return hex.DecodeString(v)
}
