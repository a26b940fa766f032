package profiles

import "context"

// WithRoot calls fn with the profile's stored root, read from memory or the
// store, for dbx-cred doctor's check that the root itself still works: a
// revoked root keeps serving the token minted before it until that expires,
// so asking with the served token alone would say all is well. The root is
// handed only to fn, inside the daemon, and never kept.
func (m *Manager) WithRoot(ctx context.Context, name string, fn func(root string) error) error {
	o, err := m.lookup(name)
	if err != nil {
		return err
	}
	o.op.Lock()
	root, err := o.readRoot(ctx)
	o.op.Unlock()
	if err != nil {
		return err
	}
	return fn(root)
}
