package profiles

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// Profile modes.
const (
	ModeRotating = "rotating"
	ModeStatic   = "static"
)

// Token lifetimes accepted at login.
const (
	DefaultLifetime = time.Hour
	MinLifetime     = 10 * time.Second
	// RootLifetime is the life of a root that dbx-cred rotate creates.
	RootLifetime = 90 * 24 * time.Hour
	// rootWarnAhead is how early status warns of an expiring root.
	rootWarnAhead = 14 * 24 * time.Hour
	// refreshMinAge stops clients from making the daemon mint in a loop.
	refreshMinAge = 10 * time.Second
)

// LoginOptions are login's choices beyond host and token.
type LoginOptions struct {
	Static   bool          // serve the root itself
	Lifetime time.Duration // of minted tokens; 0: DefaultLifetime
}

func (o LoginOptions) lifetime() (time.Duration, error) {
	switch {
	case o.Lifetime == 0:
		return DefaultLifetime, nil
	case o.Lifetime < MinLifetime:
		return 0, fmt.Errorf("%w: token lifetime %s is below the minimum of %s", ErrBadInput, o.Lifetime, MinLifetime)
	case o.Lifetime%time.Second != 0:
		return 0, fmt.Errorf("%w: token lifetime %s is not a whole number of seconds", ErrBadInput, o.Lifetime)
	}
	return o.Lifetime, nil
}

// Rotation is what rotating profiles need from the outside world.
type Rotation struct {
	// Tokens returns a Token API client for host authenticated by token.
	Tokens func(host, token string) *workspace.TokenAPI
	// Derived keeps the current minted token of each profile and scope set,
	// so a restarted daemon reuses it (a keyring under its own service name).
	Derived store.Store
	Clock   tokensource.Clock
	// MaxConcurrentMints bounds token/create calls across all profiles.
	MaxConcurrentMints int
	// CrashAt is a test hook passed to every token source
	// (tokensource.Config.CrashAt); nil in production.
	CrashAt func(point string)
	limiter chan struct{}
}

func (r Rotation) withDefaults() Rotation {
	if r.Clock == nil {
		r.Clock = tokensource.RealClock{}
	}
	if r.MaxConcurrentMints <= 0 {
		r.MaxConcurrentMints = 8
	}
	r.limiter = make(chan struct{}, r.MaxConcurrentMints)
	return r
}

func newDaemonID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// comment marks a minted token as this installation's, for this profile.
// Tokens without exactly this comment are never revoked by the clean-up.
func (m *Manager) comment(profile string) string {
	return "dbx-cred:" + m.daemonID + ":" + profile
}

func scopeKey(scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// derivedKey names the keyring item of a profile's minted token; profile
// names hold no control characters, so \x1f cannot be ambiguous.
func derivedKey(profile, scopes string) string { return profile + "\x1f" + scopes }

type persisted struct {
	Value  string    `json:"token"`
	ID     string    `json:"id"`
	Expiry time.Time `json:"expiry"`
}

// persistMinLife: tokens living less than this are not kept in the keyring.
// A Secret Service write costs tens of milliseconds (gnome-keyring rewrites
// its whole file), so keeping every 10-20 s token of hundreds of profiles
// saturates it (bench/: 500 profiles need ~56 writes/s, it manages ~20).
// Such a token is cheap to replace: after a restart the daemon mints anew,
// and its clean-up pass revokes the one it lost.
const persistMinLife = 5 * time.Minute

func (m *Manager) persist(ctx context.Context, profile, scopes string, t tokensource.Token) {
	if m.rot.Derived == nil || t.Value == "" || t.Expiry.Sub(m.rot.Clock.Now()) < persistMinLife {
		return
	}
	b, _ := json.Marshal(persisted{t.Value, t.ID, t.Expiry})
	if err := m.rot.Derived.Set(ctx, derivedKey(profile, scopes), string(b)); err != nil {
		m.log.Warn("could not keep the minted token in the keyring", "profile", profile, "err", err)
	}
}

func (m *Manager) loadPersisted(ctx context.Context, profile, scopes string) tokensource.Token {
	if m.rot.Derived == nil {
		return tokensource.Token{}
	}
	raw, err := m.rot.Derived.Get(ctx, derivedKey(profile, scopes))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("could not read the kept token; minting a new one", "profile", profile, "err", err)
		}
		return tokensource.Token{}
	}
	var p persisted
	if json.Unmarshal([]byte(raw), &p) != nil {
		return tokensource.Token{}
	}
	return tokensource.Token{Value: p.Value, ID: p.ID, Expiry: p.Expiry}
}

func (m *Manager) trialMint(ctx context.Context, name, host, root string, lifetime time.Duration) (tokensource.Token, error) {
	// Logins scripted in bulk must not break the bound renewals keep.
	select {
	case m.rot.limiter <- struct{}{}:
	case <-ctx.Done():
		return tokensource.Token{}, fmt.Errorf("mint a first short-lived token at %s (nothing was stored): %w", host, ctx.Err())
	}
	nt, err := m.rot.Tokens(host, root).Create(ctx, lifetime, m.comment(name), nil)
	<-m.rot.limiter
	if err != nil {
		var ae *workspace.APIError
		if errors.As(err, &ae) && ae.Status == 403 && !ae.Rejected() {
			return tokensource.Token{}, fmt.Errorf("%w: %s does not let this user create tokens (%s), so dbx-cred cannot mint short-lived ones; nothing was stored: log in with --static to serve the token itself", ErrBadInput, host, ae.Message)
		}
		if errors.As(err, &ae) && ae.Status == 400 {
			return tokensource.Token{}, fmt.Errorf("%w: %s refused a token with a lifetime of %s (%s); nothing was stored: choose a shorter --token-lifetime", ErrBadInput, host, lifetime, ae.Message)
		}
		return tokensource.Token{}, fmt.Errorf("mint a first short-lived token at %s (nothing was stored): %w", host, err)
	}
	return tokensource.Token{Value: nt.Value, ID: nt.ID, Expiry: nt.Expiry}, nil
}

func (m *Manager) revokeQuietly(host, root, id string) {
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.rot.Tokens(host, root).Delete(ctx, id); err != nil {
		m.log.Warn("could not revoke a token; the clean-up pass will retry", "host", host, "token_id", id, "err", err)
	}
}

func (e *entry) root() string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.token
}

// sourceWith returns the source for scopes, creating it with initial.
func (m *Manager) sourceWith(e *entry, scopes []string, initial tokensource.Token) *tokensource.Derived {
	key := scopeKey(scopes)
	e.srcMu.Lock()
	defer e.srcMu.Unlock()
	if e.sources == nil {
		e.sources = map[string]*tokensource.Derived{}
	}
	if d, ok := e.sources[key]; ok {
		return d
	}
	name, host := e.meta.Name, e.meta.Host
	minter := &tokensource.PATMinter{
		API:      func() *workspace.TokenAPI { return m.rot.Tokens(host, e.root()) },
		Lifetime: time.Duration(e.meta.LifetimeSeconds) * time.Second,
		Comment:  m.comment(name),
		Scopes:   scopes,
	}
	label := name
	if key != "" {
		label = name + " (scopes " + key + ")"
	}
	d := tokensource.NewDerived(minter, tokensource.Config{
		Name:    label,
		Clock:   m.rot.Clock,
		Persist: func(ctx context.Context, t tokensource.Token) error { m.persist(ctx, name, key, t); return nil },
		OnQuota: func(ctx context.Context) error { return m.cleanup(ctx, e) },
		Limiter: m.rot.limiter,
		Lock:    &e.mintMu,
		Log:     m.log,
		CrashAt: m.rot.CrashAt,
	}, initial)
	e.sources[key] = d
	return d
}

func (m *Manager) derivedToken(ctx context.Context, e *entry, req TokenRequest) (Token, error) {
	key := scopeKey(req.Scopes)
	e.srcMu.Lock()
	d, ok := e.sources[key]
	e.srcMu.Unlock()
	if !ok {
		d = m.sourceWith(e, req.Scopes, m.loadPersisted(ctx, e.meta.Name, key))
	}
	if req.ForceRefresh {
		d.Refresh("", refreshMinAge)
	}
	t, err := d.Token(ctx)
	if err != nil {
		if errors.Is(err, tokensource.ErrNeedsLogin) {
			e.setState(NeedsLogin, err.Error())
			return Token{}, fmt.Errorf("%w: %v", ErrNeedsLogin, err)
		}
		var ae *workspace.APIError
		if len(req.Scopes) > 0 && errors.As(err, &ae) && ae.Status == 400 {
			// Refused scopes are refused until the workspace changes: stop
			// this source rather than let it retry every minute for good.
			// The next request for them starts a new one and asks once.
			m.dropSource(ctx, e, key, d)
			return Token{}, fmt.Errorf("%w: the workspace refused a token with scopes %s (it may not support token scopes; "+
				"leave out --scope, or check the scope names): %v", ErrBadInput, key, ae)
		}
		return Token{}, fmt.Errorf("get a token for profile %q: %w", e.meta.Name, err)
	}
	// The hot path: the cheap view (no token status), like static tokens.
	e.mu.RLock()
	p := e.viewLocked()
	e.mu.RUnlock()
	return Token{Value: t.Value, Expiry: t.Expiry, Derived: true, Profile: p}, nil
}

// dropSource stops and forgets d, e's source for key, if it still is. It
// holds no token (it could not mint one), so nothing is revoked.
func (m *Manager) dropSource(ctx context.Context, e *entry, key string, d *tokensource.Derived) {
	e.srcMu.Lock()
	if e.sources[key] == d {
		delete(e.sources, key)
	}
	e.srcMu.Unlock()
	if err := d.Close(ctx, false); err != nil {
		m.log.Warn("stopping a refused scoped token source failed", "profile", e.meta.Name, "scopes", key, "err", err)
	}
}

// closeSources stops a profile's renewals; with revoke, its minted tokens
// are revoked and forgotten (logout, re-login). With sweep, leftovers no
// source holds are revoked too (logout); a re-login must not sweep, since
// the new login's first token carries the same comment and is not held by
// the old entry.
func (m *Manager) closeSources(ctx context.Context, e *entry, revoke, sweep bool) {
	e.srcMu.Lock()
	sources := e.sources
	e.sources = nil
	e.srcMu.Unlock()
	for key, d := range sources {
		if err := d.Close(ctx, revoke); err != nil {
			m.log.Warn("could not revoke minted tokens", "profile", e.meta.Name, "err", err)
		}
		if revoke && m.rot.Derived != nil {
			if err := m.rot.Derived.Delete(ctx, derivedKey(e.meta.Name, key)); err != nil && !errors.Is(err, store.ErrNotFound) {
				m.log.Warn("could not delete the kept token", "profile", e.meta.Name, "err", err)
			}
		}
	}
	if sweep && e.meta.Mode == ModeRotating && e.loaded {
		if err := m.cleanup(ctx, e); err != nil {
			m.log.Warn("leftover clean-up failed", "profile", e.meta.Name, "err", err)
		}
	}
}

// cleanup revokes this installation's minted tokens of the profile that no
// source holds: leftovers of a crash or kill -9. Tokens dbx-cred did not
// create, or another installation created, are never touched.
func (m *Manager) cleanup(ctx context.Context, e *entry) error {
	e.mintMu.Lock()
	defer e.mintMu.Unlock()
	held := map[string]bool{}
	e.srcMu.Lock()
	for _, d := range e.sources {
		for id := range d.Held() {
			held[id] = true
		}
	}
	e.srcMu.Unlock()
	api := m.rot.Tokens(e.meta.Host, e.root())
	list, err := api.List(ctx)
	if err != nil {
		return fmt.Errorf("clean up leftover tokens of profile %q: %w", e.meta.Name, err)
	}
	want := m.comment(e.meta.Name)
	live, revoked := 0, 0
	var errs []error
	for _, ti := range list {
		if ti.Comment != want {
			continue
		}
		if held[ti.ID] {
			live++
			continue
		}
		if err := api.Delete(ctx, ti.ID); err != nil {
			live++
			errs = append(errs, err)
			continue
		}
		revoked++
	}
	e.mu.Lock()
	e.liveDerived = live
	e.mu.Unlock()
	if revoked > 0 {
		m.log.Info("revoked leftover tokens", "profile", e.meta.Name, "count", revoked)
	}
	return errors.Join(errs...)
}

// Run does what rotating profiles need in the background: at start, load
// each one and clean up leftovers of an earlier daemon; then clean up
// every interval. It returns when ctx ends, after stopping all renewals
// (minted tokens are kept, for the next daemon to reuse).
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	pass := func() {
		for _, e := range m.rotating() {
			if _, err := m.Token(ctx, TokenRequest{Profile: e.meta.Name}); err != nil {
				m.log.Warn("could not prepare profile", "profile", e.meta.Name, "err", err)
				continue
			}
			if err := m.cleanup(ctx, e); err != nil {
				m.log.Warn("leftover clean-up failed", "profile", e.meta.Name, "err", err)
			}
			if w := e.view().RootWarning; w != "" {
				m.log.Warn("root token expires soon", "profile", e.meta.Name, "warning", w)
			}
		}
	}
	pass()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.RLock()
			entries := make([]*entry, 0, len(m.entries))
			for _, e := range m.entries {
				entries = append(entries, e)
			}
			m.mu.RUnlock()
			for _, e := range entries {
				m.closeSources(context.Background(), e, false, false)
			}
			return
		case <-t.C:
			pass()
		}
	}
}

func (m *Manager) rotating() []*entry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*entry
	for _, e := range m.entries {
		if e.meta.Mode == ModeRotating {
			out = append(out, e)
		}
	}
	return out
}

// ReportRejected drops token if it is what profile serves, so the next
// request gets a new one. It reports whether anything was dropped.
func (m *Manager) ReportRejected(ctx context.Context, req TokenRequest, token string) (bool, error) {
	name := req.Profile
	if name == "" {
		var err error
		if name, err = m.ProfileForHost(req.Host); err != nil {
			return false, err
		}
	}
	e, err := m.lookup(name)
	if err != nil {
		return false, err
	}
	e.srcMu.Lock()
	defer e.srcMu.Unlock()
	dropped := false
	for _, d := range e.sources {
		if d.Refresh(token, 0) {
			dropped = true
		}
	}
	if dropped {
		m.log.Info("a client reported the served token rejected; renewing", "profile", name)
	}
	return dropped, nil
}

// RotateResult says what Rotate did.
type RotateResult struct {
	Profile        Profile
	OldRootRevoked bool
	Message        string
}

// Rotate creates a new long-lived root with the current one, verifies and
// stores it, then revokes the old root when dbx-cred knows its id.
func (m *Manager) Rotate(ctx context.Context, name string) (RotateResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	e, err := m.lookup(name)
	if err != nil {
		return RotateResult{}, err
	}
	if !e.loaded {
		if err := m.loadSecret(ctx, e); err != nil {
			return RotateResult{}, err
		}
	}
	host, oldRoot := e.meta.Host, e.root()
	nt, err := m.rot.Tokens(host, oldRoot).Create(ctx, RootLifetime, "dbx-cred root:"+m.daemonID+":"+name, nil)
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
	blob, _ := json.Marshal(secret{Version: 1, Kind: KindPAT, Token: nt.Value})
	if err := m.store.Set(ctx, name, string(blob)); err != nil {
		m.revokeQuietly(host, oldRoot, nt.ID)
		return RotateResult{}, fmt.Errorf("store the new root token of profile %q (nothing changed): %w", name, err)
	}
	meta := e.meta
	oldID := meta.RootID
	meta.RootID, meta.RootExpiry = nt.ID, nt.Expiry
	if err := m.saveRegistry(name, &meta); err != nil {
		return RotateResult{}, fmt.Errorf("the new root of profile %q is stored, but the registry could not be updated: %w", name, err)
	}
	e.mu.Lock()
	// Only the fields that changed: token paths read e.meta.Name, Host and
	// Mode without e.mu, and writing the whole struct would race with them.
	e.meta.RootID, e.meta.RootExpiry, e.token = meta.RootID, meta.RootExpiry, nt.Value
	e.mu.Unlock()
	res := RotateResult{Profile: e.view()}
	if oldID != "" {
		if err := m.rot.Tokens(host, nt.Value).Delete(ctx, oldID); err != nil {
			res.Message = fmt.Sprintf("the new root is in use, but revoking the old one (id %s) failed: %v; revoke it in the workspace", oldID, err)
		} else {
			res.OldRootRevoked = true
			res.Message = "the old root token is revoked"
		}
	} else {
		res.Message = "the new root is in use. The old token was not created by dbx-cred, so its id is unknown: revoke it yourself in the workspace (User Settings > Developer > Access tokens)"
	}
	m.log.Info("root token rotated", "profile", name, "old_revoked", res.OldRootRevoked)
	return res, nil
}

// tokenStatus fills the rotation part of a profile's view.
func (e *entry) tokenStatus(p *Profile, now time.Time) {
	if p.Mode == "" {
		p.Mode = ModeStatic
	}
	p.Lifetime = time.Duration(p.LifetimeSeconds) * time.Second
	if !p.RootExpiry.IsZero() && p.RootExpiry.Sub(now) < rootWarnAhead {
		p.RootWarning = fmt.Sprintf("the root token expires on %s: run dbx-cred rotate -p %s", p.RootExpiry.UTC().Format(time.DateOnly), p.Name)
	}
	e.srcMu.Lock()
	d := e.sources[""]
	held := 0
	for _, s := range e.sources {
		held += s.Status().Live
	}
	e.srcMu.Unlock()
	if held > p.LiveDerived {
		p.LiveDerived = held
	}
	if d != nil {
		st := d.Status()
		p.CurrentExpiry, p.NextRenewal = st.Expiry, st.NextRenewal
		if st.LastError != nil {
			p.LastError = st.LastError.Error()
		}
		if st.NeedsLogin {
			p.State, p.StateMessage = NeedsLogin, st.LastError.Error()
		}
	}
}
