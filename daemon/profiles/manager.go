// Package profiles owns the daemon's profiles: the non-secret registry file,
// the secrets in the store, and one owner per profile that serves its
// tokens. The Manager keeps only those three consistent; everything about
// a single profile's tokens is its owner's business (owner.go), and how a
// token is made is a leaf of tokensource.
package profiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
)

// Validator proves a credential against its workspace.
type Validator interface {
	Me(ctx context.Context, host, token string) (workspace.User, error)
}

// AccountValidator is a Validator that can also ask an accounts host who
// owns an account-level token (account SCIM Me). Account logins need it:
// account tokens are no good at a workspace's SCIM Me.
type AccountValidator interface {
	AccountMe(ctx context.Context, host, accountID, token string) (workspace.User, error)
}

// Profile is the public, secret-free view of a profile.
type Profile struct {
	registry.Profile
	State        State
	StateMessage string
	// Served names the tokens it serves in the audit log's words ("pat",
	// "derived-pat", "oauth-m2m", "oauth-u2m"). Mode (from the registry
	// entry) is the token mode: "static", "rotating", or empty where the
	// kind has no such choice.
	Served string
	// BearerRoot: the stored secret is itself a bearer token (a PAT), which
	// doctor may check as it is; otherwise checks use a fresh access token.
	BearerRoot bool
	// AutoRotate: a root of this profile that dbx-cred creates is replaced
	// automatically before it expires.
	AutoRotate bool

	// Token state; rotation fields are zero for static profiles.
	Lifetime      time.Duration
	CurrentExpiry time.Time
	NextRenewal   time.Time
	LastError     string
	LiveDerived   int
	RootWarning   string
	// NextRootRotation is when the root is next replaced automatically
	// (zero: it is not: a pasted root, --no-auto-rotate, or one that
	// needs a login); RootRotationError why the last attempt failed.
	NextRootRotation  time.Time
	RootRotationError string
}

// Token is what a client is handed.
type Token struct {
	Value   string
	Expiry  time.Time // zero: does not expire
	Profile Profile
}

// Served names what t is in the audit log's words (Profile.Served): one
// place, so every channel agrees.
func (t Token) Served() string { return t.Profile.Served }

// Orphan is a secret in the store that no profile owns (see registry.Pending).
type Orphan struct {
	Profile string
	Reason  string
	Since   time.Time
}

// Manager is safe for concurrent use.
//
// Locks: writeMu serialises the operations that change which profiles exist
// or which secret one uses (login, logout, rotate), end to end. mu guards
// owners and pending; regMu serialises registry file writes. Order: the
// load gate (env.loadGate, see UnloadThen), writeMu, an owner's op, regMu,
// mu, an owner's mu. env.persistMu (a U2M refresh storing its token) is
// taken with none of these held but by Migrate, which holds writeMu.
type Manager struct {
	registryPath string
	env          *env
	validator    Validator

	writeMu sync.Mutex
	regMu   sync.Mutex
	mu      sync.RWMutex
	owners  map[string]*owner
	pending []registry.Pending
	// settling: store keys whose last call timed out and has not yet
	// returned; a read-back before then would see a stale outcome.
	settling map[string]<-chan struct{}
	// storeName is the store new logins record (SetStore).
	storeName string
	// imports: digests of refresh tokens an import presented (false) or
	// is presenting (true). Once presented, one is superseded: presenting
	// it again would revoke the whole login. importOrder keeps them oldest
	// first for the registry, which remembers the last maxPresented.
	imports     map[string]bool
	importOrder []string
	// auto owns the automatic root rotation schedule (autorotate.go).
	auto *rotator
}

// maxPresented bounds the digests of presented imports the registry keeps.
const maxPresented = 256

// New loads the registry at registryPath. rot may be the zero Rotation
// when no profile rotates (unit tests of static profiles).
func New(registryPath string, st store.Store, v Validator, rot Rotation, log *slog.Logger) (*Manager, error) {
	data, err := registry.Load(registryPath)
	if err != nil {
		return nil, err
	}
	m := &Manager{registryPath: registryPath, validator: v, owners: map[string]*owner{}, pending: data.Pending, settling: map[string]<-chan struct{}{}, imports: map[string]bool{}}
	for _, d := range data.Presented {
		m.imports[d] = false
		m.importOrder = append(m.importOrder, d)
	}
	m.env = &env{store: st, rot: rot.withDefaults(), log: log, daemonID: data.DaemonID, saveMeta: m.saveRegistry}
	if m.env.daemonID == "" {
		m.env.daemonID = randomHex(6)
	}
	m.auto = newRotator(m, m.env.rot.Clock)
	m.env.auto = m.auto
	for _, p := range data.Profiles {
		m.owners[p.Name] = newOwner(m.env, p)
	}
	if data.DaemonID == "" && len(data.Profiles) > 0 {
		// Kept from now on: it namespaces store items (metadata URLs),
		// which a new id at every start would lose.
		if err := m.saveRegistry(); err != nil {
			log.Warn("could not record the installation id in the registry; metadata URLs may change at the next start", "err", err)
		}
	}
	return m, nil
}

// InstallID names this installation (its registry): store items that are
// not per login, as metadata URLs, are namespaced by it.
func (m *Manager) InstallID() string { return m.env.daemonID }

// ValidateName refuses names that cannot be a .databrickscfg section or
// would be unreadable in listings.
func ValidateName(name string) error {
	switch {
	case name == "":
		return badInput("the profile name is empty: pass --profile NAME")
	case len(name) > 128:
		return badInput("the profile name is longer than 128 bytes")
	case name != strings.TrimSpace(name):
		return badInput("the profile name %q starts or ends with white space", name)
	case strings.EqualFold(name, "__settings__"):
		return badInput("%q is reserved by .databrickscfg; choose another profile name", name)
	case strings.ContainsAny(name, "[]"):
		return badInput("the profile name %q contains '[' or ']', which cannot appear in a .databrickscfg section name", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return badInput("the profile name %q contains a control character", name)
		}
	}
	return nil
}

// saveRegistry writes the registry as the owners and pending records now
// stand. Every write goes through here, so no writer can lose another's.
func (m *Manager) saveRegistry() error {
	m.regMu.Lock()
	defer m.regMu.Unlock()
	m.mu.RLock()
	list := make([]registry.Profile, 0, len(m.owners))
	for _, o := range m.owners {
		list = append(list, o.snapshot())
	}
	pending := append([]registry.Pending(nil), m.pending...)
	var presented []string
	for _, d := range m.importOrder {
		if _, ok := m.imports[d]; ok {
			presented = append(presented, d)
		}
	}
	m.mu.RUnlock()
	return registry.Save(m.registryPath, registry.Data{DaemonID: m.env.daemonID, Profiles: list, Pending: pending, Presented: presented})
}

// Login validates token against host, stores it and records the profile.
// Nothing is stored unless the workspace accepts the token. With
// opt.ClientID, token is a service principal's client secret (OAuth M2M).
func (m *Manager) Login(ctx context.Context, name, host, token string, opt LoginOptions) (p Profile, replaced bool, err error) {
	if err := ValidateName(name); err != nil {
		return Profile{}, false, err
	}
	host, err = hosturl.Normalize(host)
	if err != nil {
		return Profile{}, false, badInput("%v", err)
	}
	if err := hosturl.CheckTransport(host, opt.InsecureHTTP); err != nil {
		return Profile{}, false, badInput("%v", err)
	}
	if opt.Federated != "" {
		if strings.TrimSpace(token) != "" {
			return Profile{}, false, badInput("--federated stores no secret, but one was given: leave it out (nothing on stdin)")
		}
		return m.loginFederated(ctx, name, host, opt)
	}
	what := "token"
	if opt.ClientID != "" {
		what = "client secret"
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Profile{}, false, badInput("the %s is empty: paste it at the prompt or pipe it on stdin", what)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return Profile{}, false, badInput("the %s contains white space or control characters: paste only the %s", what, what)
	}
	if opt.AccountID != "" && opt.ClientID == "" {
		return Profile{}, false, badInput("--account-id needs --client-id: account-level logins are service principal (OAuth M2M) logins, as PATs do not work at account level")
	}
	if opt.ClientID != "" && (opt.Adopt || opt.NoAutoRotate) {
		return Profile{}, false, badInput("--adopt and --no-auto-rotate are for personal access tokens: a service principal's client secret is not a token dbx-cred can replace (create a new secret in the account console instead); leave them out")
	}
	if opt.ClientID != "" {
		return m.loginM2M(ctx, name, host, token, opt.ClientID, opt.AccountID)
	}
	return m.loginPAT(ctx, name, host, token, opt)
}

// record stores a validated login's secret and makes its owner, started
// by start, the profile's, replacing (and retiring) an earlier login.
// undo gives back what validation made when nothing could be stored.
func (m *Manager) record(ctx context.Context, meta registry.Profile, stored string, start func(*owner), undo func()) (Profile, bool, error) {
	name := meta.Name
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	// Nothing to store for a credential whose root is in the registry.
	if _, none := credentialOf(meta).(rootInRegistry); !none {
		if err := m.writeSecret(ctx, name, meta.SecretKey, stored, "a login"); err != nil {
			undo()
			return Profile{}, false, fmt.Errorf("store the secret of profile %q: %w", name, err)
		}
	}

	// Started before anyone can reach it, so no request can load it
	// from the store in between and start a second set of sources.
	o := newOwner(m.env, meta)
	start(o)
	m.mu.Lock()
	old := m.owners[name]
	m.owners[name] = o
	m.mu.Unlock()
	oldKey := ""
	if old != nil {
		oldKey = old.secretKey()
	}
	if err := m.commit(name, meta.SecretKey, oldKey, "the secret of a replaced login"); err != nil {
		m.mu.Lock()
		if old != nil {
			m.owners[name] = old
		} else {
			delete(m.owners, name)
		}
		m.mu.Unlock()
		o.revokeAll(ctx)
		m.env.deleteAllKept(ctx, o.snapshot())
		// The new secret stays, pending: a concurrent registry write may
		// have recorded it before this one failed, and deleting it could
		// leave a registry entry without its secret.
		return Profile{}, false, err
	}
	if old != nil {
		m.retireOwner(ctx, old)
	}
	m.auto.wake()
	m.env.log.Info("profile logged in", "profile", name, "host", meta.Host, "kind", meta.Kind, "user", meta.UserName, "replaced", old != nil)
	return o.view(), old != nil, nil
}

// writeSecret stores value under key with a pending record written first,
// so that a write whose outcome is unknown (a timed-out keyring call, a
// crash) leaves a trace the reconciler and logout find. The record is
// cleared once the outcome is known: by commit on success, here on a
// definite failure. After a timeout it stays, and the error says so.
func (m *Manager) writeSecret(ctx context.Context, profile, key, value, why string) error {
	if err := m.addPending(registry.Pending{Key: key, Profile: profile, Reason: why, Since: time.Now().UTC().Truncate(time.Second)}); err != nil {
		return err
	}
	err := m.env.store.Set(ctx, key, value)
	if err == nil {
		return nil
	}
	if settled := store.Settled(err); settled != nil {
		m.mu.Lock()
		m.settling[key] = settled
		m.mu.Unlock()
		m.env.log.Warn("a store write did not answer in time; its outcome is unknown", "profile", profile, "why", why)
		return fmt.Errorf("%w; the write may still land later: nothing uses it, dbx-cred status lists it as an orphaned secret until dbx-cred logout -p %s removes it. Nothing else changed", err, profile)
	}
	m.dropPending(key)
	return err
}

// deleteSecret deletes key and reports whether the store confirmed it. If
// the delete fails or its outcome is unknown, the key stays pending: an
// orphan for status and logout.
func (m *Manager) deleteSecret(ctx context.Context, profile, key, why string) bool {
	err := m.env.store.Delete(ctx, key)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		m.dropPending(key)
		return true
	}
	if settled := store.Settled(err); settled != nil {
		m.mu.Lock()
		m.settling[key] = settled
		m.mu.Unlock()
	}
	m.env.log.Warn("could not delete a secret; it is listed as an orphan", "profile", profile, "why", why, "err", err)
	_ = m.addPending(registry.Pending{Key: key, Profile: profile, Reason: why, Since: time.Now().UTC().Truncate(time.Second)})
	return false
}

func (m *Manager) addPending(p registry.Pending) error {
	m.mu.Lock()
	for _, q := range m.pending {
		if q.Key == p.Key {
			m.mu.Unlock()
			return nil
		}
	}
	m.pending = append(m.pending, p)
	m.mu.Unlock()
	if err := m.saveRegistry(); err != nil {
		m.dropPendingLocal(p.Key)
		return fmt.Errorf("record the pending store write in the registry (nothing was stored): %w", err)
	}
	return nil
}

func (m *Manager) dropPendingLocal(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range m.pending {
		if q.Key == key {
			m.pending = append(m.pending[:i:i], m.pending[i+1:]...)
			delete(m.settling, key)
			return true
		}
	}
	return false
}

func (m *Manager) dropPending(key string) {
	if m.dropPendingLocal(key) {
		if err := m.saveRegistry(); err != nil {
			m.env.log.Warn("could not clear a pending record in the registry", "err", err)
		}
	}
}

// commit writes the registry with key no longer pending and, in the same
// write, the key it supersedes (if any) pending until it is deleted: the
// owner that names key is already in m.owners, so this one write is the
// switch, and a crash after it leaves the old secret listed, not lost.
func (m *Manager) commit(profile, key, superseded, why string) error {
	m.dropPendingLocal(key)
	now := time.Now().UTC().Truncate(time.Second)
	if superseded != "" && superseded != key {
		m.mu.Lock()
		m.pending = append(m.pending, registry.Pending{Key: superseded, Profile: profile, Reason: why, Since: now})
		m.mu.Unlock()
	}
	if err := m.saveRegistry(); err != nil {
		m.dropPendingLocal(superseded)
		m.mu.Lock()
		m.pending = append(m.pending, registry.Pending{Key: key, Profile: profile, Reason: "a write whose registry update failed", Since: now})
		m.mu.Unlock()
		return fmt.Errorf("record the profile in the registry (nothing changed): %w", err)
	}
	return nil
}

// retireOwner ends a login a new one replaced: everything it made in the
// workspace is revoked (its tokens carry its own login's comment, so
// nothing of the new login's can match) and its secret deleted.
func (m *Manager) retireOwner(ctx context.Context, old *owner) []string {
	old.op.Lock()
	defer old.op.Unlock()
	root, err := old.readRoot(ctx)
	if err != nil {
		m.env.log.Warn("could not read the replaced login's root to revoke what it made; its tokens expire on their own", "profile", old.name, "err", err)
	}
	revoked, advice := m.endLogin(ctx, old, root)
	if advice != "" {
		m.env.log.Warn("the replaced login left something alive", "profile", old.name, "advice", advice)
	}
	m.deleteSecret(ctx, old.name, old.secretKey(), "the secret of a replaced login")
	return revoked
}

// endLogin revokes everything a login made in the workspace: its sources'
// tokens, leftovers with its comment, and a root dbx-cred rotate made; and
// deletes its kept tokens. root may be empty (unreadable): then only what
// the sources hold is revoked, and advice says what is left. op is held.
func (m *Manager) endLogin(ctx context.Context, o *owner, root string) (revoked []string, advice string) {
	o.mu.Lock()
	unloaded, g := o.main == nil, o.grant
	o.mu.Unlock()
	ids := o.revokeAll(ctx)
	meta := o.snapshot() // after revokeAll: no source can add a kept scope any more
	if unloaded {
		// Not used since the daemon started: no source holds what the
		// credential made, which may still be live in the workspace.
		rev, err := o.cred.revokeUnused(ctx, m.env, meta, root, g)
		ids = append(ids, rev...)
		if err != nil {
			m.env.log.Warn("could not revoke what an unused login holds", "profile", meta.Name, "err", err)
		}
	}
	if root != "" && o.cred.mints() {
		swept, err := o.cleanup(ctx, map[string]bool{})
		ids = append(ids, swept...)
		if err != nil {
			advice += fmt.Sprintf("some tokens dbx-cred minted could not be revoked (%v): revoke the ones commented %q in the workspace (User Settings > Developer > Access tokens). ", err, m.env.comment(meta))
		}
	}
	for _, id := range dedupe(ids) {
		if id == tokensource.RevokedRefreshToken {
			revoked = append(revoked, "OAuth refresh token (and with it the login's access tokens)")
			continue
		}
		revoked = append(revoked, "short-lived token "+id)
	}
	m.env.deleteAllKept(ctx, meta)
	if meta.RootID != "" {
		err := errors.New("its secret could not be read")
		if root != "" {
			if err = m.env.rot.Tokens(meta.Host, root).Delete(ctx, meta.RootID); isNotFound(err) {
				err = nil
			}
		}
		if err != nil {
			advice += fmt.Sprintf("the long-lived token dbx-cred rotate created (id %s) could not be revoked (%v): revoke it in the workspace (User Settings > Developer > Access tokens). ", meta.RootID, err)
		} else {
			revoked = append(revoked, "long-lived token "+meta.RootID+" (created by dbx-cred rotate)")
		}
	}
	return revoked, advice
}

// TokenRequest asks for a token by profile name, or by workspace host when
// Profile is empty.
type TokenRequest struct {
	Profile string
	Host    string
	// AccountID, with Host, picks among account-level profiles of one
	// accounts host.
	AccountID    string
	Scopes       []string
	ForceRefresh bool
}

// Token returns the profile's token, reading the store only the first time.
//
// The warm path (a loaded profile, no scopes) is one map lookup under the
// manager's read lock, one atomic load of the owner's published serving
// value and the source's Token: no owner lock and no retry loop. A request
// whose owner closed under it (a re-login, logout or lock replaced it) is
// answered once more, after the replacement has finished (writeMu), by the
// owner then serving the name.
func (m *Manager) Token(ctx context.Context, req TokenRequest) (Token, error) {
	tok, err := m.token(ctx, req)
	if !errors.Is(err, errClosed) && !errors.Is(err, tokensource.ErrStopped) {
		return tok, err
	}
	m.writeMu.Lock()
	//lint:ignore SA2001 a barrier: the replacement that closed the owner has finished
	m.writeMu.Unlock()
	return m.token(ctx, req)
}

func (m *Manager) token(ctx context.Context, req TokenRequest) (Token, error) {
	m.mu.RLock()
	o := m.owners[req.Profile]
	m.mu.RUnlock()
	if o == nil {
		// By host, or a name not known: find says which, or what to do.
		var err error
		if o, err = m.find(req.Profile, req.Host, req.AccountID); err != nil {
			return Token{}, err
		}
	}
	sv := o.pub.Load()
	if sv.main == nil && !sv.closed {
		if err := o.ensureLoaded(ctx); err != nil {
			return Token{}, err
		}
		sv = o.pub.Load()
	}
	if sv.closed {
		return Token{}, o.closedError()
	}
	var src tokensource.TokenSource = sv.main
	life, scoped := sv.life, (*tokensource.Derived)(nil)
	if len(req.Scopes) > 0 {
		d, err := o.scopedSource(ctx, req.Scopes)
		if err != nil {
			return Token{}, err
		}
		src, life, scoped = d, d, d
	}
	if req.ForceRefresh && life != nil {
		life.Refresh("", refreshMinAge)
	}
	t, err := src.Token(ctx)
	if err != nil {
		return Token{}, o.tokenError(req.Scopes, scoped, err)
	}
	return Token{Value: t.Value, Expiry: t.Expiry, Profile: sv.view}, nil
}

// tokenError names what went wrong in the user's terms.
// scoped is the source of a scoped request (nil: unscoped).
func (o *owner) tokenError(scopes []string, scoped *tokensource.Derived, err error) error {
	name := o.name
	if errors.Is(err, tokensource.ErrNeedsLogin) {
		o.setState(NeedsLogin, err.Error())
		return fmt.Errorf("%w: %v", ErrNeedsLogin, err)
	}
	if msg := o.cred.loginNeeded(o.snapshot(), err); msg != "" {
		o.setState(NeedsLogin, msg)
		return &kindError{kind: ErrNeedsLogin, msg: msg}
	}
	var ae *workspace.APIError
	if errors.As(err, &ae) && ae.Code == "QUOTA_EXCEEDED" {
		return fmt.Errorf("%w: the workspace holds the most tokens it allows for this user, so no new one could be minted for profile %q: "+
			"revoke unused tokens in the workspace (User Settings > Developer > Access tokens), then try again: %v", ErrQuota, name, ae)
	}
	if len(scopes) > 0 && errors.As(err, &ae) && ae.Status == 400 {
		// Refused scopes are refused until the workspace changes: stop
		// this source rather than let it retry for good. The next request
		// for them starts a new one and asks once.
		if scoped != nil {
			o.dropScoped(scopeKey(scopes), scoped)
		}
		return badInput("the workspace refused a token with scopes %s (it may not support token scopes; "+
			"leave out --scope, or check the scope names): %v", scopeKey(scopes), ae)
	}
	return fmt.Errorf("get a token for profile %q: %w", name, err)
}

// find resolves a profile by name, or by host (and account id) when name
// is empty.
func (m *Manager) find(name, host, accountID string) (*owner, error) {
	if name == "" && host != "" {
		var err error
		if name, err = m.ProfileForAccount(host, accountID); err != nil {
			return nil, err
		}
	}
	return m.lookup(name)
}

// Known returns nil when name is a profile, else the error a request for
// it gets (with a did-you-mean and the known profiles).
func (m *Manager) Known(name string) error {
	_, err := m.lookup(name)
	return err
}

func (m *Manager) lookup(name string) (*owner, error) {
	m.mu.RLock()
	o, ok := m.owners[name]
	m.mu.RUnlock()
	if ok {
		return o, nil
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	known := m.Names()
	if len(known) == 0 {
		return nil, fmt.Errorf("%w %q: no profiles yet: run dbx-cred login -p %s --host <workspace URL>", ErrUnknownProfile, name, name)
	}
	if near := closest(name, known); near != "" {
		return nil, fmt.Errorf("%w %q: did you mean %q? (known profiles: %s; or log in with dbx-cred login -p %s --host <workspace URL>)",
			ErrUnknownProfile, name, near, strings.Join(known, ", "), name)
	}
	return nil, fmt.Errorf("%w %q: known profiles: %s (choose one with -p NAME, or log in with dbx-cred login -p %s --host <workspace URL>)",
		ErrUnknownProfile, name, strings.Join(known, ", "), name)
}

// ProfileForHost finds the one profile whose host is host (both normalised).
// Several matches are an error that lists them, since picking one silently
// could hand out the wrong user's token.
func (m *Manager) ProfileForHost(host string) (string, error) {
	return m.ProfileForAccount(host, "")
}

// ProfileForAccount is ProfileForHost that, given an account id, keeps only
// the profiles of that account: an accounts host is shared by every
// account, so several account-level profiles on one host are told apart by
// it. Without one, any profile of the host matches, as before.
func (m *Manager) ProfileForAccount(host, accountID string) (string, error) {
	return m.ProfileForAccountIn(host, accountID, nil)
}

// ProfileForAccountIn is ProfileForAccount among the profiles named in only
// (all when nil): a forwarding socket's, whose host may be shared with
// profiles it does not lend.
func (m *Manager) ProfileForAccountIn(host, accountID string, only []string) (string, error) {
	norm, err := hosturl.Normalize(host)
	if err != nil {
		return "", badInput("%v", err)
	}
	var matches []string
	m.mu.RLock()
	for n, o := range m.owners {
		if only != nil && !slices.Contains(only, n) {
			continue
		}
		p := o.snapshot()
		if p.Host == norm && (accountID == "" || p.AccountID == accountID) {
			matches = append(matches, n)
		}
	}
	m.mu.RUnlock()
	sort.Strings(matches)
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) == 0 && accountID != "":
		return "", fmt.Errorf("%w: no profile for account %s at %s: log in with dbx-cred login -p NAME --host %s --account-id %s --client-id ID", ErrUnknownProfile, accountID, norm, norm, accountID)
	case len(matches) == 0:
		return "", fmt.Errorf("%w: no profile for host %s: log in with dbx-cred login -p NAME --host %s", ErrUnknownProfile, norm, norm)
	case accountID == "":
		return "", badInput("several profiles use host %s (%s): choose one with --profile, or --account-id for account-level ones", norm, strings.Join(matches, ", "))
	}
	return "", badInput("several profiles use host %s and account %s (%s): choose one with --profile", norm, accountID, strings.Join(matches, ", "))
}

// Names lists profile names in order.
func (m *Manager) Names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.owners))
	for n := range m.owners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// List describes every profile, in name order.
func (m *Manager) List() []Profile {
	m.mu.RLock()
	owners := make([]*owner, 0, len(m.owners))
	for _, o := range m.owners {
		owners = append(owners, o)
	}
	m.mu.RUnlock()
	out := make([]Profile, 0, len(owners))
	for _, o := range owners {
		out = append(out, o.view())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Orphans lists the secrets in the store that no profile owns, or whose
// write had an unknown outcome and so may be there.
func (m *Manager) Orphans() []Orphan {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Orphan
	for _, p := range m.pending {
		if o, ok := m.owners[p.Profile]; ok && o.secretKey() == p.Key {
			continue
		}
		out = append(out, Orphan{Profile: p.Profile, Reason: p.Reason, Since: p.Since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out
}

// view is the full view, token status included.
func (o *owner) view() Profile {
	o.mu.Lock()
	p := o.viewLocked()
	p.LiveDerived = o.live
	main := o.life
	held := 0
	for _, s := range o.scoped {
		held += s.src.Status().Live
	}
	o.mu.Unlock()
	p.NextRootRotation, p.RootRotationError = o.env.auto.report(p.Profile)
	// On the clock the schedule runs on (a test's may not be the wall's).
	p.RootWarning = rootWarning(p.Profile, o.env.rot.Clock.Now(), p.NextRootRotation, p.RootRotationError)
	if main == nil {
		return p
	}
	st := main.Status()
	held += st.Live
	p.LiveDerived = max(p.LiveDerived, held)
	p.CurrentExpiry, p.NextRenewal = st.Expiry, st.NextRenewal
	if st.LastError != nil {
		p.LastError = st.LastError.Error()
	}
	if st.NeedsLogin {
		p.State, p.StateMessage = NeedsLogin, st.LastError.Error()
	}
	return p
}

// rootWarning warns of a root (one dbx-cred created, the only kind whose
// expiry is known) that expires within rootWarnAhead, with what to do:
// next and lastErr are the automatic rotation's plan and last failure.
func rootWarning(p registry.Profile, now, next time.Time, lastErr string) string {
	if p.RootExpiry.IsZero() || p.RootExpiry.Sub(now) >= rootWarnAhead {
		return ""
	}
	day := p.RootExpiry.UTC().Format(time.DateOnly)
	switch {
	case !now.Before(p.RootExpiry):
		return fmt.Sprintf("the root token expired on %s: run %s --adopt", day, loginCommand(p))
	case lastErr != "":
		return fmt.Sprintf("the root token expires on %s and its automatic replacement failed (%s): run dbx-cred rotate -p %s", day, lastErr, p.Name)
	case !next.IsZero():
		return fmt.Sprintf("the root token expires on %s; dbx-cred replaces it automatically at %s (or now: dbx-cred rotate -p %s)", day, next.UTC().Format(time.RFC3339), p.Name)
	}
	return fmt.Sprintf("the root token expires on %s: run dbx-cred rotate -p %s", day, p.Name)
}

// kindError is an error of kind (errors.Is) with a message of its own, for
// when the kind's text would only repeat what the message says.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// validAccountID reports whether id can be an account id in a URL path
// (empty: a workspace-level login).
func validAccountID(id string) bool {
	for _, r := range id {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
