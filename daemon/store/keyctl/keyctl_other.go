//go:build !linux

package keyctl

import (
	"context"
	"errors"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

var errUnsupported = errors.New("the kernel keyring exists only on Linux")

// Ring is the kernel keyring, absent here: every call fails with the fix.
type Ring struct{ name string }

// Open returns a Ring that refuses every call.
func Open(name string) *Ring { return &Ring{name: name} }

// Remove implements nothing here.
func (r *Ring) Remove() error { return errUnsupported }

// ID is 0: there is no ring.
func (r *Ring) ID() int { return 0 }

// Probe implements store.Prober.
func (r *Ring) Probe(context.Context) store.Health {
	return store.Health{Note: errUnsupported.Error() + ": choose --store os or file"}
}

// Namespace is the Store of one namespace.
func (r *Ring) Namespace(ns string) *Store { return &Store{r: r} }

// Store refuses every call.
type Store struct{ r *Ring }

func (s *Store) fail(op, key string) error {
	return &store.UnavailableError{Store: "the kernel keyring", Op: op, Key: key, Reason: errUnsupported.Error(),
		Fix: "choose another store: dbx-credd run --store os (or file)", Err: errUnsupported}
}

// Backend implements store.Store.
func (s *Store) Backend() string { return Name }

// Probe implements store.Prober.
func (s *Store) Probe(ctx context.Context) store.Health { return s.r.Probe(ctx) }

// Get implements store.Store.
func (s *Store) Get(_ context.Context, key string) (string, error) { return "", s.fail("read", key) }

// Set implements store.Store.
func (s *Store) Set(_ context.Context, key, _ string) error { return s.fail("write", key) }

// Delete implements store.Store.
func (s *Store) Delete(_ context.Context, key string) error { return s.fail("delete", key) }
