package store

import (
	"context"
	"sync/atomic"
)

// Switch is a Store whose backend can be replaced while it serves: the
// daemon hands one Switch to every user of a namespace (profiles, minted
// tokens, metadata URLs) and swaps them all at the end of a migration, so
// nothing above the store learns that secrets moved.
type Switch struct {
	cur atomic.Pointer[holder]
}

type holder struct{ s Store }

// NewSwitch returns a Switch serving s.
func NewSwitch(s Store) *Switch {
	w := &Switch{}
	w.Swap(s)
	return w
}

// Swap makes s the backend of every later call.
func (w *Switch) Swap(s Store) { w.cur.Store(&holder{s}) }

// Current is the backend now served.
func (w *Switch) Current() Store { return w.cur.Load().s }

// Get implements Store.
func (w *Switch) Get(ctx context.Context, key string) (string, error) {
	return w.Current().Get(ctx, key)
}

// Set implements Store.
func (w *Switch) Set(ctx context.Context, key, secret string) error {
	return w.Current().Set(ctx, key, secret)
}

// Delete implements Store.
func (w *Switch) Delete(ctx context.Context, key string) error {
	return w.Current().Delete(ctx, key)
}

// Backend implements Store.
func (w *Switch) Backend() string { return w.Current().Backend() }

// CheckWrite implements WriteChecker for the backend now served.
func (w *Switch) CheckWrite(ctx context.Context, key string) error {
	return CheckWrite(ctx, w.Current(), key)
}
