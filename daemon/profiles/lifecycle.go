package profiles

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

func (m *Manager) trialMint(ctx context.Context, meta registry.Profile, root string, lifetime time.Duration) (tokensource.Token, error) {
	host := meta.Host
	// Logins scripted in bulk must not break the bound renewals keep.
	lim := m.env.rot.limiter
	select {
	case lim <- struct{}{}:
	case <-ctx.Done():
		return tokensource.Token{}, fmt.Errorf("mint a first short-lived token at %s (nothing was stored): %w", host, ctx.Err())
	}
	sent := m.env.rot.Clock.Now()
	nt, err := m.env.rot.Tokens(host, root).Create(ctx, lifetime, m.env.comment(meta), nil)
	<-lim
	if err != nil {
		var ae *workspace.APIError
		if errors.As(err, &ae) && ae.Status == 403 && !ae.Rejected() {
			return tokensource.Token{}, badInput("%s does not let this user create tokens (%s), so dbx-cred cannot mint short-lived ones; nothing was stored: log in with --static to serve the token itself", host, ae.Message)
		}
		if errors.As(err, &ae) && ae.Code == "QUOTA_EXCEEDED" {
			return tokensource.Token{}, fmt.Errorf("%w: %s holds the most tokens it allows for this user; nothing was stored: revoke unused tokens in the workspace (User Settings > Developer > Access tokens) and log in again", ErrQuota, host)
		}
		if errors.As(err, &ae) && ae.Status == 400 {
			return tokensource.Token{}, badInput("%s refused a token with a lifetime of %s (%s); nothing was stored: choose a shorter --token-lifetime", host, lifetime, ae.Message)
		}
		return tokensource.Token{}, fmt.Errorf("mint a first short-lived token at %s (nothing was stored): %w", host, err)
	}
	return tokensource.Token{Value: nt.Value, ID: nt.ID, Expiry: sent.Add(tokensource.GrantedLifetime(nt.TokenInfo, lifetime))}, nil
}

func (m *Manager) revokeQuietly(host, root, id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.env.rot.Tokens(host, root).Delete(ctx, id); err != nil && !isNotFound(err) {
		m.env.log.Warn("could not revoke a token; the clean-up pass will retry", "host", host, "token_id", id, "err", err)
	}
}

// LogoutResult says what Logout did in the workspace and what is left.
type LogoutResult struct {
	Revoked []string // one line per revoked token, no values
	Advice  string
}

// Logout revokes every token dbx-cred created for the profile (minted,
// kept, and a root made by rotate), then deletes its secret and registry
// entry. Orphaned secrets of the name go too; a name with only orphans is
// not an unknown profile.
func (m *Manager) Logout(ctx context.Context, name string) (LogoutResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.RLock()
	o, ok := m.owners[name]
	m.mu.RUnlock()
	orphans := m.orphanKeys(name)
	if !ok && len(orphans) == 0 {
		_, err := m.lookup(name)
		return LogoutResult{}, err
	}
	var res LogoutResult
	if ok {
		r, err := m.logoutOwner(ctx, o)
		if err != nil {
			return LogoutResult{}, err
		}
		res = r
	}
	removed, flying := 0, 0
	for _, key := range orphans {
		if m.inFlight(key) {
			// Deleting now proves nothing: the write may land after it.
			flying++
			continue
		}
		if err := m.env.store.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("delete an orphaned secret of profile %q (try again once the store answers): %w", name, err)
		}
		m.dropPending(key)
		removed++
	}
	if removed > 0 {
		res.Revoked = append(res.Revoked, fmt.Sprintf("%d orphaned secret(s) deleted from the store", removed))
	}
	if flying > 0 {
		res.Advice += fmt.Sprintf("%d store write(s) of profile %q have not answered yet: once the store answers (unlock it), run dbx-cred logout -p %s again to remove what they leave. ", flying, name, name)
	}
	m.env.log.Info("profile logged out", "profile", name, "revoked", len(res.Revoked))
	return res, nil
}

// inFlight reports whether key's last store call timed out and has not
// returned yet.
func (m *Manager) inFlight(key string) bool {
	m.mu.RLock()
	ch, ok := m.settling[key]
	m.mu.RUnlock()
	if !ok {
		return false
	}
	select {
	case <-ch:
		return false
	default:
		return true
	}
}

func (m *Manager) orphanKeys(name string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var keys []string
	for _, p := range m.pending {
		if p.Profile != name {
			continue
		}
		if o, ok := m.owners[name]; ok && o.secretKey() == p.Key {
			continue
		}
		keys = append(keys, p.Key)
	}
	return keys
}

func (m *Manager) logoutOwner(ctx context.Context, o *owner) (LogoutResult, error) {
	o.op.Lock()
	defer o.op.Unlock()
	meta := o.snapshot()
	name := meta.Name
	// Revoking needs the root; a profile never used since the daemon
	// started has not read it yet. Reading it starts no source: logout
	// must not mint first.
	root, err := o.readRoot(ctx)
	var unavailable *store.UnavailableError
	if errors.As(err, &unavailable) {
		return LogoutResult{}, fmt.Errorf("read the token of profile %q to revoke what dbx-cred made with it (nothing changed): %w", name, err)
	}
	var res LogoutResult
	res.Revoked, res.Advice = m.endLogin(ctx, o, root)
	// The registry forgets the profile first, with its secret pending: a
	// crash now leaves an orphan that status lists, never a profile whose
	// secret is gone.
	key := secretKeyOf(meta)
	m.mu.Lock()
	delete(m.owners, name)
	m.pending = append(m.pending, registry.Pending{Key: key, Profile: name, Reason: "the secret of a logged-out profile", Since: time.Now().UTC().Truncate(time.Second)})
	m.mu.Unlock()
	if err := m.saveRegistry(); err != nil {
		return res, fmt.Errorf("the tokens of profile %q are revoked, but the registry could not be updated: %w", name, err)
	}
	if !m.deleteSecret(ctx, name, key, "the secret of a logged-out profile") {
		res.Advice += "the store did not confirm deleting the secret: dbx-cred status lists it as orphaned until dbx-cred logout -p " + name + " removes it. "
	}
	res.Advice += o.cred.logoutAdvice(meta, res.Revoked)
	return res, nil
}

func (o *owner) rootValue() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.root
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ReportRejected drops token if it is what the profile serves, so the next
// request gets a new one; at most once per refreshMinAge, so a client that
// reports in a loop cannot make the daemon mint in one.
func (m *Manager) ReportRejected(ctx context.Context, req TokenRequest, token string) (bool, error) {
	o, err := m.find(req.Profile, req.Host, req.AccountID)
	if err != nil {
		return false, err
	}
	o.mu.Lock()
	srcs := o.lifecyclesLocked()
	o.mu.Unlock()
	dropped := false
	for _, s := range srcs {
		if s.Refresh(token, refreshMinAge) {
			dropped = true
		}
	}
	if dropped {
		m.env.log.Info("a client reported the served token rejected; renewing", "profile", o.name)
	}
	return dropped, nil
}

// Run does what profiles need in the background: at start, load each
// rotating one, clean up leftovers of an earlier daemon, and read back
// secrets whose writes had unknown outcomes; then the same every interval.
// It returns when ctx ends, after stopping all renewals (minted tokens are
// kept, for the next daemon to reuse).
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	pass := func() {
		m.reconcile(ctx)
		for _, o := range m.rotating() {
			name := o.snapshot().Name
			if err := o.ensureLoaded(ctx); err != nil {
				m.env.log.Warn("could not prepare profile", "profile", name, "err", err)
				continue
			}
			o.retireIdle(ctx)
			if _, err := o.cleanup(ctx, nil); err != nil {
				m.env.log.Warn("leftover clean-up failed", "profile", name, "err", err)
			}
			if w := o.view().RootWarning; w != "" {
				m.env.log.Warn("root token expires soon", "profile", name, "warning", w)
			}
		}
	}
	pass()
	var auto sync.WaitGroup
	auto.Add(1)
	go func() { defer auto.Done(); m.auto.run(ctx) }()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			auto.Wait()
			m.mu.RLock()
			owners := make([]*owner, 0, len(m.owners))
			for _, o := range m.owners {
				owners = append(owners, o)
			}
			m.mu.RUnlock()
			for _, o := range owners {
				o.stop()
			}
			return
		case <-t.C:
			pass()
		}
	}
}

func (m *Manager) rotating() []*owner {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*owner
	for _, o := range m.owners {
		if o.cred.mints() {
			out = append(out, o)
		}
	}
	return out
}

// reconcile reads back every pending key whose last call has returned: a
// key the store does not hold is no orphan, and its record goes. One that
// is there stays an orphan until logout removes it.
func (m *Manager) reconcile(ctx context.Context) {
	m.mu.RLock()
	var keys []string
	for _, p := range m.pending {
		if ch, ok := m.settling[p.Key]; ok {
			select {
			case <-ch:
			default:
				continue // still in flight: a read now could miss a late write
			}
		}
		keys = append(keys, p.Key)
	}
	m.mu.RUnlock()
	for _, key := range keys {
		if m.inUse(key) { // the profile uses it: only the record is stale
			m.dropPending(key)
			continue
		}
		_, err := m.env.store.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			m.dropPending(key)
		}
	}
}

func (m *Manager) inUse(key string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, o := range m.owners {
		if o.secretKey() == key {
			return true
		}
	}
	return false
}
