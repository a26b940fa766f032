// Package store keeps secrets. Store is the one small interface the rest of
// the daemon sees; the OS keyring is the backend used in production and a
// memory backend serves unit tests of pure logic.
package store

import (
	"context"
	"errors"
)

// ErrNotFound means the store holds no secret under that key.
var ErrNotFound = errors.New("no such secret in the keyring")

// Store holds secrets by key. Every call honours ctx and has its own bound:
// no call may block its caller forever.
type Store interface {
	Get(ctx context.Context, key string) (string, error)
	Set(ctx context.Context, key, secret string) error
	Delete(ctx context.Context, key string) error
	// Backend names where secrets go, for status output.
	Backend() string
}
