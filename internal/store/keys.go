package store

import "context"

// Keys keeps random keys the bot makes once and then shares between its
// processes (the key of the digest that binds a plan to what its
// connections resolve to). Both backends implement it.
type Keys interface {
	// Key returns the key named name: made (32 random bytes) by the first
	// caller, the same for every caller after, also across processes.
	Key(ctx context.Context, name string) ([]byte, error)
}
