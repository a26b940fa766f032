package profiles

import "context"

// WithRoot calls fn with the profile's stored root, read from memory or the
// store, for dbx-cred doctor's check that the root itself still works: a
// revoked root keeps serving the token minted before it until that expires,
// so asking with the served token alone would say all is well. The root is
// handed only to fn, inside the daemon, and never kept. An OAuth M2M
// profile's root is a client secret, which is no bearer token and must never
// be sent as one (nor is a U2M profile's refresh token): fn gets a current
// access token instead, which proves the secret as well as the workspace can.
func (m *Manager) WithRoot(ctx context.Context, name string, fn func(root string) error) error {
	o, err := m.lookup(name)
	if err != nil {
		return err
	}
	if !o.cred.bearerRoot() {
		t, err := m.Token(ctx, TokenRequest{Profile: name})
		if err != nil {
			return err
		}
		return fn(t.Value)
	}
	o.op.Lock()
	root, err := o.readRoot(ctx)
	o.op.Unlock()
	if err != nil {
		return err
	}
	return fn(root)
}
