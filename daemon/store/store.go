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

// ErrOutcomeUnknown means a write or delete was sent but not answered in
// time. It may still take effect later: read back before acting on it
// (revoking, deleting, reporting "nothing changed").
var ErrOutcomeUnknown = errors.New("the outcome is unknown")

// Settled returns, for an ErrOutcomeUnknown error, a channel closed once the
// abandoned call has really returned; nil for any other error.
func Settled(err error) <-chan struct{} {
	var ue *UnavailableError
	if errors.As(err, &ue) && errors.Is(err, ErrOutcomeUnknown) {
		return ue.Settled
	}
	return nil
}

// Store holds secrets by key. Every call honours ctx and has its own bound:
// no call may block its caller forever.
type Store interface {
	Get(ctx context.Context, key string) (string, error)
	Set(ctx context.Context, key, secret string) error
	Delete(ctx context.Context, key string) error
	// Backend names where secrets go, for status output.
	Backend() string
}
