package sqlite

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
	if _, err := s.w.ExecContext(ctx, `INSERT INTO bot_keys (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, hex.EncodeToString(b)); err != nil {
		return nil, fmt.Errorf("make key %s: %w", name, err)
	}
	var v string
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM bot_keys WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("read key %s: %w", name, err)
	}
	return hex.DecodeString(v)
}
