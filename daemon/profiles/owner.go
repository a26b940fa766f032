package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// State of a profile, as shown to users.
type State int

const (
	// Stored: in the store, not read yet.
	Stored State = iota
	// Ready: the credential is in memory.
	Ready
	// NeedsLogin: the credential is missing or was rejected.
	NeedsLogin
	// KeyringUnavailable: the last store read failed.
	KeyringUnavailable
	// Locked: the store is locked (the file store before dbx-cred unlock);
	// nothing is wrong with the profile.
	Locked
)

// secret is the store item's content. Versioned JSON so later kinds (OAuth)
// can add fields without a migration step: each kind fills its own field,
// so a reader can never take one kind's secret for another's.
type secret struct {
	Version int    `json:"v"`
	Kind    string `json:"kind"`
	Token   string `json:"token,omitempty"`
	// ClientSecret: an oauth-m2m profile's service principal secret.
	ClientSecret string `json:"client_secret,omitempty"`
	// An oauth-u2m profile's grant: its refresh token, generation, and the
	// access token that came with it (so a restarted daemon serves that
	// one instead of refreshing at once).
	RefreshToken string    `json:"refresh_token,omitempty"`
	Gen          int64     `json:"gen,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	AccessExpiry time.Time `json:"access_expiry,omitzero"`
	Obtained     time.Time `json:"obtained,omitzero"`
}

// encodeItem is a store item's text.
func encodeItem(s secret) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// owner is the one owner of a profile: its registry entry, its root once
// read from the store, and the token sources made from that root (one leaf
// of tokensource.Source for unscoped tokens, and a bounded set of lazy ones
// for scope sets).
//
// Locks: op serialises the profile's slow operations (reading the secret,
// logout, rotate); mu guards every field below it and is held only to read
// or swap them, never across a store or workspace call. op comes before mu;
// a source's own lock is never held while either is taken. The leftover
// clean-up takes neither across its workspace calls, so a source blocked in
// its quota hook can never deadlock a logout waiting for it to stop.
type owner struct {
	env  *env
	name string // immutable: a profile's owner never changes its name
	// cred is the profile's kind of credential, decided once: an owner
	// never changes kind (a login of another kind makes a new owner).
	cred credential
	// pub is what requests read without a lock: republished (under mu)
	// whenever meta, state, main or closed change.
	pub atomic.Pointer[serving]

	op sync.Mutex
	// mintGate: see tokensource.Config.MintGate.
	mintGate sync.RWMutex

	mu       sync.Mutex
	meta     registry.Profile
	root     string
	grant    *tokensource.Grant // an oauth-u2m profile's, read with root
	loaded   bool
	closed   bool // logged out or replaced: serves nothing more
	state    State
	stateMsg string
	main     tokensource.TokenSource
	life     tokensource.Lifecycle // main's; nil when it renews nothing
	scoped   map[string]*scopedSource
	revoked  map[string]bool // token ids this daemon revoked for the profile
	live     int             // this installation's live tokens, at the last clean-up

	bg      sync.WaitGroup // retirements running in the background
	closing chan struct{}  // closed by shutdown: retirements stop waiting
	hurry   chan struct{}  // closed (and replaced) under mu: retirements revoke now
}

// retireGrace bounds how long a retired source's tokens stay alive for the
// clients that were just given them.
const retireGrace = 30 * time.Second

// expedite makes waiting retirements revoke now (the quota is short).
func (o *owner) expedite() {
	o.mu.Lock()
	close(o.hurry)
	o.hurry = make(chan struct{})
	o.mu.Unlock()
}

type scopedSource struct {
	src  *tokensource.Derived
	used time.Time
}

func newOwner(env *env, meta registry.Profile) *owner {
	o := &owner{env: env, name: meta.Name, cred: credentialOf(meta), meta: meta, closing: make(chan struct{}), hurry: make(chan struct{}), state: Stored, scoped: map[string]*scopedSource{}, revoked: map[string]bool{}}
	o.publishLocked()
	return o
}

// serving is what a request reads of its owner, published whole and never
// changed after: the warm path (Manager.Token) takes no owner lock.
type serving struct {
	view   Profile                 // the quick view: no token status
	main   tokensource.TokenSource // nil until loaded
	life   tokensource.Lifecycle   // main's; nil when it renews nothing
	closed bool
}

// publishLocked publishes the owner as it now stands; mu is held (or the
// owner is not shared yet).
func (o *owner) publishLocked() {
	o.pub.Store(&serving{view: o.viewLocked(), main: o.main, life: o.life, closed: o.closed})
}

// viewLocked is the quick view; mu is held.
func (o *owner) viewLocked() Profile {
	p := Profile{Profile: o.meta, State: o.state, StateMessage: o.stateMsg, Served: o.cred.served(),
		BearerRoot: o.cred.bearerRoot(), AutoRotate: o.cred.rotatable(o.meta) == nil && !o.meta.NoAutoRotate}
	p.Mode = o.cred.mode()
	p.Lifetime = time.Duration(p.LifetimeSeconds) * time.Second
	return p
}

func (o *owner) snapshot() registry.Profile {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.meta
}

func (o *owner) secretKey() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return secretKeyOf(o.meta)
}

func secretKeyOf(p registry.Profile) string {
	if p.SecretKey != "" {
		return p.SecretKey
	}
	return p.Name
}

func (o *owner) setState(s State, msg string) {
	o.mu.Lock()
	o.state, o.stateMsg = s, msg
	o.publishLocked()
	o.mu.Unlock()
}

// ensureLoaded reads the secret from the store once and builds the token
// sources; concurrent callers wait for the first one.
func (o *owner) ensureLoaded(ctx context.Context) error {
	if done, err := o.nothingToLoad(); done || err != nil {
		return err
	}
	// Before op: UnloadThen holds the gate while it takes every op.
	o.env.loadGate.RLock()
	defer o.env.loadGate.RUnlock()
	o.op.Lock()
	defer o.op.Unlock()
	return o.loadLocked(ctx)
}

// nothingToLoad reports whether the owner is loaded already, or closed (the
// error then sends the caller to the profile's new owner).
func (o *owner) nothingToLoad() (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return true, o.closedError()
	}
	return o.loaded, nil
}

// loadLocked is ensureLoaded with op held: the root is read, then the
// sources start. A closed owner (logged out or replaced while the caller
// waited for op) starts nothing.
func (o *owner) loadLocked(ctx context.Context) error {
	if done, err := o.nothingToLoad(); done || err != nil {
		return err
	}
	root, err := o.readRoot(ctx)
	if err != nil {
		return err
	}
	o.start(ctx, o.snapshot(), root, tokensource.Token{})
	o.env.log.Debug("profile loaded from the store", "profile", o.name)
	return nil
}

// readRoot returns the root, from memory or else the store, and starts no
// source: what logout and a re-login need to revoke what the root made,
// without minting anything first. op is held.
func (o *owner) readRoot(ctx context.Context) (string, error) {
	o.mu.Lock()
	root := o.root
	o.mu.Unlock()
	if root != "" {
		return root, nil
	}
	meta := o.snapshot()
	if r, ok := o.cred.(rootInRegistry); ok {
		root = r.registryRoot(meta)
		o.mu.Lock()
		o.root = root
		o.mu.Unlock()
		return root, nil
	}
	name := meta.Name
	raw, err := o.env.store.Get(ctx, secretKeyOf(meta))
	if err != nil {
		if errors.Is(err, store.ErrCleared) {
			// The registry entry stays, so a login restores it as it was.
			msg := fmt.Sprintf("the kernel keyring was cleared (reboot): run dbx-cred login -p %s --host %s", name, meta.Host)
			o.setState(NeedsLogin, msg)
			return "", fmt.Errorf("%w: %s", ErrNeedsLogin, msg)
		}
		if errors.Is(err, store.ErrNotFound) {
			msg := fmt.Sprintf("the store holds no token for profile %q (deleted outside dbx-cred?): run dbx-cred login -p %s --host %s", name, name, meta.Host)
			o.setState(NeedsLogin, msg)
			return "", fmt.Errorf("%w: %s", ErrNeedsLogin, msg)
		}
		if errors.Is(err, store.ErrLocked) {
			o.setState(Locked, "the store is locked: run dbx-cred unlock")
			return "", fmt.Errorf("read the token of profile %q: %w", name, err)
		}
		o.setState(KeyringUnavailable, err.Error())
		o.env.log.Warn("keyring read failed", "profile", name, "err", err)
		return "", fmt.Errorf("read the token of profile %q: %w", name, err)
	}
	var s secret
	err = json.Unmarshal([]byte(raw), &s)
	root, grant, refuse := o.cred.fromStore(meta, s)
	if err != nil || root == "" && refuse == "" {
		refuse = fmt.Sprintf("the store item for profile %q is not in dbx-cred's format: run %s", name, loginCommand(meta))
	}
	if refuse != "" {
		o.setState(NeedsLogin, refuse)
		return "", fmt.Errorf("%w: %s", ErrNeedsLogin, refuse)
	}
	o.mu.Lock()
	o.root, o.grant = root, grant
	o.mu.Unlock()
	return root, nil
}

// start makes root current and builds the sources: first is a token just
// minted (login), else the kept ones are reused.
func (o *owner) start(ctx context.Context, meta registry.Profile, root string, first tokensource.Token) {
	o.mu.Lock()
	o.root = root
	g := o.grant
	o.mu.Unlock()
	if !o.install(o.cred.start(ctx, o, meta, root, g, first)) || !o.cred.mints() {
		return
	}
	// Scoped tokens kept by an earlier daemon get their sources now, so
	// the clean-up counts them as held instead of revoking them.
	for _, key := range meta.KeptScopes {
		if key == "" {
			continue
		}
		if kept := o.env.loadKept(ctx, o, meta, key); kept.Value != "" {
			d := o.newDerived(meta, splitScopes(key), kept, true)
			if o.addScoped(key, d) != d {
				d.Stop()
			}
		}
	}
}

// install makes main the source the owner serves, and reports whether it
// did: an owner closed meanwhile stops main instead, as nobody else ever
// would. loaded is set only together with main: a request that sees the
// profile loaded must find its source.
func (o *owner) install(main tokensource.TokenSource, life tokensource.Lifecycle) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		if life != nil {
			life.Stop()
		}
		return false
	}
	o.main, o.life, o.loaded, o.state, o.stateMsg = main, life, true, Ready, ""
	o.publishLocked()
	o.mu.Unlock()
	return true
}

func (o *owner) newDerived(meta registry.Profile, scopes []string, initial tokensource.Token, lazy bool) *tokensource.Derived {
	key := scopeKey(scopes)
	label := meta.Name
	if key != "" {
		label = meta.Name + " (scopes " + key + ")"
	}
	e := o.env
	minter := &tokensource.PATMinter{
		API: func() *workspace.TokenAPI {
			o.mu.Lock()
			root := o.root
			o.mu.Unlock()
			return e.rot.Tokens(meta.Host, root)
		},
		Lifetime: time.Duration(meta.LifetimeSeconds) * time.Second,
		Comment:  e.comment(meta),
		Scopes:   scopes,
	}
	onQuota := func(ctx context.Context) error {
		o.expedite()
		if key == "" {
			// The unscoped token is never starved by scoped ones.
			o.retireScoped(ctx)
		}
		_, err := o.cleanup(ctx, nil)
		return err
	}
	return tokensource.NewDerived(minter, tokensource.Config{
		Name:      label,
		Clock:     e.rot.Clock,
		Lazy:      lazy,
		Persist:   func(ctx context.Context, t tokensource.Token) error { e.keep(ctx, o, key, t); return nil },
		OnQuota:   onQuota,
		OnRevoked: o.markRevoked,
		MintGate:  &o.mintGate,
		Limiter:   e.rot.limiter,
		Log:       e.log,
		CrashAt:   e.rot.CrashAt,
	}, initial)
}

// errClosed: the owner was logged out or replaced while a request held it;
// the request looks the profile up again.
var errClosed = errors.New("it was just logged out or replaced")

func (o *owner) closedError() error {
	return fmt.Errorf("%w %q: %w", ErrUnknownProfile, o.name, errClosed)
}

func (o *owner) markRevoked(id string) {
	o.mu.Lock()
	o.revoked[id] = true
	o.mu.Unlock()
}

func (o *owner) wasRevoked(id string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.revoked[id]
}

// scopedSource returns the source for a non-empty scope set, making a lazy
// one for a new set (and retiring idle and least recently used ones beyond
// the bound). Unscoped requests never come here: they read o.pub.
func (o *owner) scopedSource(ctx context.Context, scopes []string) (*tokensource.Derived, error) {
	key := scopeKey(scopes)
	if err := o.cred.narrow(o.name); err != nil {
		return nil, err
	}
	now := time.Now()
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, o.closedError()
	}
	if s, ok := o.scoped[key]; ok {
		s.used = now
		o.mu.Unlock()
		return s.src, nil
	}
	meta := o.meta
	o.mu.Unlock()
	d := o.newDerived(meta, scopes, o.env.loadKept(ctx, o, meta, key), true)
	if got := o.addScoped(key, d); got != d {
		d.Stop()
		if got == nil {
			return nil, o.closedError()
		}
		return got, nil
	}
	return d, nil
}

// addScoped records d for key unless another source got there first (then
// that one is returned) or the owner is closed (nil). It retires idle
// sources, then the least recently used, to stay within MaxScopedSources.
func (o *owner) addScoped(key string, d *tokensource.Derived) *tokensource.Derived {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	if s, ok := o.scoped[key]; ok {
		s.used = time.Now()
		o.mu.Unlock()
		return s.src
	}
	var retire []string
	var srcs []*tokensource.Derived
	for k, s := range o.scoped {
		if s.src.Status().Idle {
			retire, srcs = append(retire, k), append(srcs, s.src)
			delete(o.scoped, k)
		}
	}
	for len(o.scoped) >= MaxScopedSources {
		lru := ""
		for k, s := range o.scoped {
			if lru == "" || s.used.Before(o.scoped[lru].used) {
				lru = k
			}
		}
		retire, srcs = append(retire, lru), append(srcs, o.scoped[lru].src)
		delete(o.scoped, lru)
	}
	o.scoped[key] = &scopedSource{src: d, used: time.Now()}
	if len(retire) > 0 {
		o.bg.Add(1)
	}
	o.mu.Unlock()
	if len(retire) > 0 {
		go o.retireAfterUse(retire, srcs)
	}
	return d
}

// retireAfterUse stops sources already removed from o.scoped now and
// revokes their tokens once no client may still use them (the latest expiry
// they were told), or at once when the owner closes. o.bg counts it.
func (o *owner) retireAfterUse(keys []string, srcs []*tokensource.Derived) {
	defer o.bg.Done()
	var last time.Time
	for _, d := range srcs {
		d.Stop()
		if t := d.LastAdvertised(); t.After(last) {
			last = t
		}
	}
	// At most the longest grace: tokens retired in a burst (many scope
	// sets) must not pile up against the quota; and at once when the
	// quota is short (hurry) or the owner closes.
	if wait := min(time.Until(last), retireGrace); wait > 0 {
		o.mu.Lock()
		hurry := o.hurry
		o.mu.Unlock()
		select {
		case <-time.After(wait):
		case <-hurry:
		case <-o.closing:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.retire(ctx, keys, srcs)
}

// retire revokes the tokens of sources already removed from o.scoped and
// forgets their kept copies.
func (o *owner) retire(ctx context.Context, keys []string, srcs []*tokensource.Derived) []string {
	var revoked []string
	for i, d := range srcs {
		ids, err := d.Revoke(ctx)
		revoked = append(revoked, ids...)
		if err != nil {
			o.env.log.Warn("could not revoke a retired scoped token; the clean-up pass will retry", "profile", o.name, "scopes", keys[i], "err", err)
		}
		o.env.forgetKept(ctx, o, keys[i])
	}
	if len(keys) > 0 {
		o.env.log.Info("retired scoped token sources", "profile", o.name, "count", len(keys))
	}
	return revoked
}

// retireIdle retires the scoped sources nobody asked since their token
// expired, so an unused scope set keeps neither memory nor a kept copy.
func (o *owner) retireIdle(ctx context.Context) {
	o.mu.Lock()
	var keys []string
	var srcs []*tokensource.Derived
	for k, s := range o.scoped {
		if s.src.Status().Idle {
			keys, srcs = append(keys, k), append(srcs, s.src)
			delete(o.scoped, k)
		}
	}
	o.mu.Unlock()
	o.retire(ctx, keys, srcs)
}

// retireScoped retires every scoped source (quota pressure, logout).
func (o *owner) retireScoped(ctx context.Context) []string {
	o.mu.Lock()
	var keys []string
	var srcs []*tokensource.Derived
	for k, s := range o.scoped {
		keys, srcs = append(keys, k), append(srcs, s.src)
		delete(o.scoped, k)
	}
	o.mu.Unlock()
	return o.retire(ctx, keys, srcs)
}

// dropScoped forgets the source for key if it still is d (the workspace
// refused its scopes) and retires it.
func (o *owner) dropScoped(key string, d *tokensource.Derived) {
	o.mu.Lock()
	if s, ok := o.scoped[key]; !ok || s.src != d || o.closed {
		o.mu.Unlock()
		d.Stop()
		return
	}
	delete(o.scoped, key)
	o.bg.Add(1)
	o.mu.Unlock()
	// It may still hold a token minted before the refusal: retire it.
	go o.retireAfterUse([]string{key}, []*tokensource.Derived{d})
}

// held is every token id the profile's sources own.
func (o *owner) held() map[string]bool {
	o.mu.Lock()
	srcs := o.lifecyclesLocked()
	o.mu.Unlock()
	out := map[string]bool{}
	for _, s := range srcs {
		for id := range s.Held() {
			out[id] = true
		}
	}
	return out
}

// cleanup revokes this installation's minted tokens of the profile that no
// source holds: leftovers of a crash or kill -9. Tokens dbx-cred did not
// create, or another installation created, are never touched. With spare
// nil, the sources' held tokens are spared; logout passes an empty set
// after stopping every source, so that everything goes.
func (o *owner) cleanup(ctx context.Context, spare map[string]bool) ([]string, error) {
	o.mu.Lock()
	meta, root := o.meta, o.root
	o.mu.Unlock()
	if root == "" {
		return nil, nil
	}
	api := o.env.rot.Tokens(meta.Host, root)
	list, err := api.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("clean up leftover tokens of profile %q: %w", meta.Name, err)
	}
	if spare == nil {
		// After the list: a mint whose token is in it has recorded it
		// as held once the gate is ours.
		o.mintGate.Lock()
		spare = o.held()
		o.mintGate.Unlock()
	}
	want := o.env.comment(meta)
	live := 0
	var revoked []string
	var errs []error
	for _, ti := range list {
		if ti.Comment != want {
			continue
		}
		if spare[ti.ID] {
			live++
			continue
		}
		if err := api.Delete(ctx, ti.ID); err != nil && !isNotFound(err) {
			live++
			errs = append(errs, err)
			continue
		}
		o.markRevoked(ti.ID)
		revoked = append(revoked, ti.ID)
	}
	o.mu.Lock()
	o.live = live
	o.mu.Unlock()
	if len(revoked) > 0 {
		o.env.log.Info("revoked leftover tokens", "profile", meta.Name, "count", len(revoked))
	}
	return revoked, errors.Join(errs...)
}

func isNotFound(err error) bool {
	var ae *workspace.APIError
	return errors.As(err, &ae) && (ae.Status == 404 || ae.Code == "RESOURCE_DOES_NOT_EXIST")
}

// lifecyclesLocked lists the lifecycles of every source; mu is held.
func (o *owner) lifecyclesLocked() []tokensource.Lifecycle {
	var out []tokensource.Lifecycle
	if o.life != nil {
		out = append(out, o.life)
	}
	for _, s := range o.scoped {
		out = append(out, s.src)
	}
	return out
}

// shutdown closes the owner (it serves nothing more) and returns its
// sources, once no retirement is running in the background.
func (o *owner) shutdown() []tokensource.Lifecycle {
	o.mu.Lock()
	if !o.closed {
		close(o.closing)
	}
	o.closed = true
	o.publishLocked()
	srcs := o.lifecyclesLocked()
	o.scoped = map[string]*scopedSource{}
	o.mu.Unlock()
	o.bg.Wait()
	return srcs
}

// stop closes the owner and leaves its tokens to expire (daemon shutdown:
// the kept ones are reused by the next daemon).
func (o *owner) stop() {
	for _, s := range o.shutdown() {
		s.Stop()
		if d, ok := s.(drainer); ok {
			// A U2M refresh in flight holds the only valid refresh token
			// until stored: let it land before the caller moves on (a
			// lock, a shutdown), or the next load would find it lost.
			ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			if err := d.Drain(ctx); err != nil {
				o.env.log.Warn("a refresh in flight did not end in time", "profile", o.name, "err", err)
			}
			cancel()
		}
	}
}

// drainer is a source whose renewal in flight must land before its owner
// moves on (a U2M refresh: see stop).
type drainer interface {
	Drain(ctx context.Context) error
}

// drainTimeout bounds how long stopping waits for a U2M refresh in flight.
const drainTimeout = 15 * time.Second

// revokeAll closes the owner and revokes every token its sources hold,
// returning their ids (logout, re-login).
func (o *owner) revokeAll(ctx context.Context) []string {
	var revoked []string
	for _, s := range o.shutdown() {
		ids, err := s.Revoke(ctx)
		revoked = append(revoked, ids...)
		if err != nil {
			o.env.log.Warn("could not revoke minted tokens", "profile", o.name, "err", err)
		}
	}
	return revoked
}
