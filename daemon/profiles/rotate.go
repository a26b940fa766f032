package profiles

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// RotateResult says what Rotate did.
type RotateResult struct {
	Profile        Profile
	OldRootRevoked bool
	Message        string
}

// Rotate creates a new long-lived root with the current one, verifies and
// stores it under a new key, switches the registry to it, then revokes the
// old root when dbx-cred knows its id. The registry switch is the commit
// point: until it, the old root is the one in use, so a store write that
// times out (and may land later) can never replace a valid root with one
// dbx-cred then revokes.
func (m *Manager) Rotate(ctx context.Context, name string) (RotateResult, error) {
	return m.rotate(ctx, name, rotateHow{})
}

// rotateHow is what distinguishes an automatic rotate from one asked for.
type rotateHow struct {
	// auto: the schedule asked (see autorotate.go).
	auto bool
	// root is the id of the root the schedule found due: when another
	// rotate or a login replaced it meanwhile, nothing is done.
	root string
}

// errNotDue: an automatic rotate found its root already replaced.
var errNotDue = errors.New("the root was replaced meanwhile")

func (m *Manager) rotate(ctx context.Context, name string, how rotateHow) (RotateResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	o, err := m.lookup(name)
	if err != nil {
		return RotateResult{}, err
	}
	if err := o.cred.rotatable(o.snapshot()); err != nil {
		return RotateResult{}, err
	}
	o.op.Lock()
	defer o.op.Unlock()
	if err := o.loadLocked(ctx); err != nil {
		return RotateResult{}, err
	}
	meta := o.snapshot()
	if how.auto && (meta.RootID != how.root || meta.NoAutoRotate) {
		return RotateResult{}, errNotDue
	}
	host, oldRoot := meta.Host, o.rootValue()
	sent := time.Now()
	nt, err := createRoot(ctx, m.env.rot.Tokens(host, oldRoot), rootLifetime(meta), "dbx-cred root:"+m.env.daemonID+":"+name)
	if err != nil {
		var ae *workspace.APIError
		if errors.As(err, &ae) && ae.Rejected() {
			return RotateResult{}, fmt.Errorf("%w: %s rejected the stored token of profile %q: run dbx-cred login -p %s again", ErrNeedsLogin, host, name, name)
		}
		return RotateResult{}, fmt.Errorf("create a new root token for profile %q (nothing changed): %w", name, err)
	}
	if _, err := m.validator.Me(ctx, host, nt.Value); err != nil {
		m.revokeQuietly(host, oldRoot, nt.ID)
		return RotateResult{}, fmt.Errorf("verify the new root token of profile %q (nothing changed): %w", name, err)
	}
	newKey := newSecretKey(name)
	if err := m.writeSecret(ctx, name, newKey, encodeSecret(nt.Value), "a rotate"); err != nil {
		// Safe even if the write lands later: nothing will read newKey.
		m.revokeQuietly(host, oldRoot, nt.ID)
		return RotateResult{}, fmt.Errorf("store the new root token of profile %q (the old root stays in use; the new one is revoked): %w", name, err)
	}
	o.mu.Lock()
	// From the current entry, not the one read above: a source may have
	// recorded a kept scope meanwhile, and its item must be deleted below.
	meta = o.meta
	next := meta
	next.SecretKey, next.RootID, next.RootExpiry, next.KeptScopes = newKey, nt.ID, nt.Expiry, nil
	next.RootCreated = nt.Created
	if nt.Created.IsZero() {
		next.RootCreated = sent
	}
	oldMain := o.main
	o.meta, o.root = next, nt.Value
	if !o.cred.mints() {
		// A profile that serves the root itself serves the new one.
		o.main, _ = o.cred.start(ctx, o, next, nt.Value, nil, tokensource.Token{})
	}
	o.publishLocked()
	o.mu.Unlock()
	if err := m.commit(name, newKey, secretKeyOf(meta), "the root a rotate replaced"); err != nil {
		o.mu.Lock()
		o.meta, o.root, o.main = meta, oldRoot, oldMain
		o.publishLocked()
		o.mu.Unlock()
		// The new secret stays, pending (see Login); its root is revoked.
		m.revokeQuietly(host, oldRoot, nt.ID)
		return RotateResult{}, fmt.Errorf("the old root of profile %q stays in use: %w", name, err)
	}
	// Kept tokens were bound to the old root's key: forget them; the
	// sources re-keep their next tokens under the new one.
	m.env.deleteAllKept(ctx, meta)
	m.deleteSecret(ctx, name, secretKeyOf(meta), "the root a rotate replaced")
	res := RotateResult{Profile: o.view()}
	// Mints that read the old root before the swap finish first: revoking
	// it under them would read as a rejected root (needs login).
	o.mintGate.Lock()
	//lint:ignore SA2001 a barrier: waiting for the holders is the point
	o.mintGate.Unlock()
	switch {
	case how.auto && !o.cred.mints() && meta.RootID != "":
		// A static profile handed the old root itself to its clients,
		// who may hold it still: revoking it now would fail them. It
		// expires on its own, no later than it would have anyway.
		res.Message = fmt.Sprintf("the new root is in use; the old one (id %s) stays valid until it expires on %s, for clients that were given it", meta.RootID, meta.RootExpiry.UTC().Format(time.RFC3339))
	case meta.RootID != "":
		if err := m.env.rot.Tokens(host, nt.Value).Delete(ctx, meta.RootID); err != nil && !isNotFound(err) {
			res.Message = fmt.Sprintf("the new root is in use, but revoking the old one (id %s) failed: %v; revoke it in the workspace", meta.RootID, err)
		} else {
			res.OldRootRevoked = true
			res.Message = "the old root token is revoked"
		}
	default:
		res.Message = "the new root is in use. The old token was not created by dbx-cred, so its id is unknown: revoke it yourself in the workspace (User Settings > Developer > Access tokens)"
	}
	m.auto.wake()
	m.env.log.Info("root token rotated", "profile", name, "auto", how.auto, "expires", nt.Expiry, "old_revoked", res.OldRootRevoked)
	return res, nil
}

// Adopt replaces the token pasted at login with a root dbx-cred creates,
// at once, so that the stored root is one whose id and expiry dbx-cred
// knows: it is then renewed before it expires and revoked at logout. The
// pasted token stays valid (its id is unknown): the message says to revoke
// it in the workspace.
func (m *Manager) Adopt(ctx context.Context, name string) (RotateResult, error) {
	o, err := m.lookup(name)
	if err != nil {
		return RotateResult{}, err
	}
	pasted := o.snapshot().RootID == ""
	res, err := m.Rotate(ctx, name)
	if err != nil {
		return res, err
	}
	if pasted {
		exp := "never"
		if !res.Profile.RootExpiry.IsZero() {
			exp = res.Profile.RootExpiry.UTC().Format(time.RFC3339)
		}
		res.Message = fmt.Sprintf("dbx-cred created a new root token (expires %s) and keeps it instead of the one you pasted. "+
			"The pasted token is still valid: revoke it in the workspace (User Settings > Developer > Access tokens) unless another tool uses it", exp)
	}
	return res, nil
}
