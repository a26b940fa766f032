// Package profiles owns the daemon's profiles: the non-secret registry file,
// the secrets in the store, and the in-memory copy tokens are served from.
// It is the only package that knows how those three stay consistent.
package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// State of a profile, as shown to users.
type State int

const (
	// Stored: in the keyring, not read yet.
	Stored State = iota
	// Ready: the credential is in memory.
	Ready
	// NeedsLogin: the credential is missing or was rejected.
	NeedsLogin
	// KeyringUnavailable: the last keyring read failed.
	KeyringUnavailable
)

// KindPAT is the registry's kind for personal access tokens.
const KindPAT = "pat"

// Validator proves a credential against its workspace.
type Validator interface {
	Me(ctx context.Context, host, token string) (workspace.User, error)
}

// Profile is the public, secret-free view of a profile.
type Profile struct {
	registry.Profile
	State        State
	StateMessage string

	// Token state; rotation fields are zero for static profiles.
	Lifetime      time.Duration
	CurrentExpiry time.Time
	NextRenewal   time.Time
	LastError     string
	LiveDerived   int
	RootWarning   string
}

// Token is what a client is handed.
type Token struct {
	Value   string
	Expiry  time.Time // zero: does not expire
	Derived bool      // minted from the root, not the root itself
	Profile Profile
}

// secret is the keyring item's content. Versioned JSON so later kinds
// (derived tokens, OAuth) can add fields without a migration step.
type secret struct {
	Version int    `json:"v"`
	Kind    string `json:"kind"`
	Token   string `json:"token"`
}

type entry struct {
	meta registry.Profile

	// load serialises keyring reads for this profile only, so a slow or
	// prompting keyring never stalls other profiles.
	load     sync.Mutex
	mu       sync.RWMutex
	token    string
	loaded   bool
	state    State
	stateMsg string

	// mintMu is shared by this profile's token sources and its leftover
	// clean-up (tokensource.Config.Lock).
	mintMu      sync.Mutex
	srcMu       sync.Mutex
	sources     map[string]*tokensource.Derived // by scope key
	liveDerived int                             // from the last clean-up pass
}

// Manager is safe for concurrent use.
type Manager struct {
	registryPath string
	daemonID     string
	store        store.Store
	validator    Validator
	log          *slog.Logger
	rot          Rotation

	// writeMu serialises Login and Logout end to end, so the registry file
	// and the keyring change together.
	writeMu sync.Mutex
	mu      sync.RWMutex
	entries map[string]*entry
}

// New loads the registry at registryPath. rot may be the zero Rotation
// when no profile rotates (unit tests of static profiles).
func New(registryPath string, st store.Store, v Validator, rot Rotation, log *slog.Logger) (*Manager, error) {
	data, err := registry.Load(registryPath)
	if err != nil {
		return nil, err
	}
	m := &Manager{registryPath: registryPath, daemonID: data.DaemonID, store: st, validator: v, rot: rot.withDefaults(), log: log, entries: map[string]*entry{}}
	if m.daemonID == "" {
		m.daemonID = newDaemonID()
	}
	for _, p := range data.Profiles {
		m.entries[p.Name] = &entry{meta: p, state: Stored}
	}
	return m, nil
}

// ValidateName refuses names that cannot be a .databrickscfg section or
// would be unreadable in listings.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the profile name is empty: pass --profile NAME", ErrBadInput)
	case len(name) > 128:
		return fmt.Errorf("%w: the profile name is longer than 128 bytes", ErrBadInput)
	case name != strings.TrimSpace(name):
		return fmt.Errorf("%w: the profile name %q starts or ends with white space", ErrBadInput, name)
	case strings.EqualFold(name, "__settings__"):
		return fmt.Errorf("%w: %q is reserved by .databrickscfg; choose another profile name", ErrBadInput, name)
	case strings.ContainsAny(name, "[]"):
		return fmt.Errorf("%w: the profile name %q contains '[' or ']', which cannot appear in a .databrickscfg section name", ErrBadInput, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: the profile name %q contains a control character", ErrBadInput, name)
		}
	}
	return nil
}

// Login validates token against host, stores it and records the profile.
// Nothing is stored unless the workspace accepts the token.
func (m *Manager) Login(ctx context.Context, name, host, token string, opt LoginOptions) (p Profile, replaced bool, err error) {
	if err := ValidateName(name); err != nil {
		return Profile{}, false, err
	}
	host, err = hosturl.Normalize(host)
	if err != nil {
		return Profile{}, false, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return Profile{}, false, fmt.Errorf("%w: the token is empty: paste it at the prompt or pipe it on stdin", ErrBadInput)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return Profile{}, false, fmt.Errorf("%w: the token contains white space or control characters: paste only the token", ErrBadInput)
	}
	user, err := m.validator.Me(ctx, host, token)
	if err != nil {
		if errors.Is(err, workspace.ErrRejected) {
			return Profile{}, false, fmt.Errorf("%w: %s rejected the token (invalid or expired); nothing was stored: create a new token in the workspace (User Settings > Developer > Access tokens) and log in again: %w", ErrNeedsLogin, host, err)
		}
		return Profile{}, false, fmt.Errorf("validate the token against %s (nothing was stored): %w", host, err)
	}
	lifetime, err := opt.lifetime()
	if err != nil {
		return Profile{}, false, err
	}
	var first tokensource.Token
	if !opt.Static {
		// A first mint proves the workspace lets this user create tokens,
		// before anything is stored.
		if first, err = m.trialMint(ctx, name, host, token, lifetime); err != nil {
			return Profile{}, false, err
		}
	}
	blob, err := json.Marshal(secret{Version: 1, Kind: KindPAT, Token: token})
	if err != nil {
		return Profile{}, false, fmt.Errorf("encode the credential: %w", err)
	}

	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.RLock()
	old := m.entries[name]
	m.mu.RUnlock()

	if err := m.store.Set(ctx, name, string(blob)); err != nil {
		return Profile{}, false, fmt.Errorf("store the token of profile %q: %w", name, err)
	}
	meta := registry.Profile{Name: name, Host: host, UserName: user.UserName, Kind: KindPAT, Created: time.Now().UTC().Truncate(time.Second), Mode: ModeStatic}
	if !opt.Static {
		meta.Mode, meta.LifetimeSeconds = ModeRotating, int64(lifetime/time.Second)
	}
	if err := m.saveRegistry(name, &meta); err != nil {
		m.rollbackSet(ctx, name, old)
		m.revokeQuietly(host, token, first.ID)
		return Profile{}, false, err
	}
	if old != nil {
		m.closeSources(ctx, old, true, false)
	}
	e := &entry{meta: meta, token: token, loaded: true, state: Ready}
	if !opt.Static {
		m.persist(ctx, name, "", first)
		m.sourceWith(e, nil, first)
	}
	m.mu.Lock()
	m.entries[name] = e
	m.mu.Unlock()
	m.log.Info("profile logged in", "profile", name, "host", host, "user", user.UserName, "replaced", old != nil)
	return e.view(), old != nil, nil
}

// rollbackSet undoes a keyring write whose registry write failed, so the
// keyring never holds a secret the registry does not know about.
func (m *Manager) rollbackSet(ctx context.Context, name string, old *entry) {
	var err error
	if old != nil && old.loaded {
		blob, _ := json.Marshal(secret{Version: 1, Kind: old.meta.Kind, Token: old.token})
		err = m.store.Set(ctx, name, string(blob))
	} else if old == nil {
		err = m.store.Delete(ctx, name)
	}
	if err != nil {
		m.log.Error("rolling back the keyring after a failed registry write", "profile", name, "err", err)
	}
}

// saveRegistry writes the registry with meta set for name (nil removes it).
func (m *Manager) saveRegistry(name string, meta *registry.Profile) error {
	m.mu.RLock()
	list := make([]registry.Profile, 0, len(m.entries)+1)
	for n, e := range m.entries {
		if n != name {
			list = append(list, e.meta)
		}
	}
	m.mu.RUnlock()
	if meta != nil {
		list = append(list, *meta)
	}
	return registry.Save(m.registryPath, registry.Data{DaemonID: m.daemonID, Profiles: list})
}

// Logout deletes the profile's secret and registry entry.
func (m *Manager) Logout(ctx context.Context, name string) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	e, err := m.lookup(name)
	if err != nil {
		return err
	}
	m.closeSources(ctx, e, true, true)
	if err := m.store.Delete(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete the token of profile %q (the profile is kept): %w", name, err)
	}
	if err := m.saveRegistry(name, nil); err != nil {
		return fmt.Errorf("the token of profile %q is deleted, but the registry could not be updated: %w", name, err)
	}
	m.mu.Lock()
	delete(m.entries, name)
	m.mu.Unlock()
	m.log.Info("profile logged out", "profile", name)
	return nil
}

// TokenRequest asks for a token by profile name, or by workspace host when
// Profile is empty.
type TokenRequest struct {
	Profile      string
	Host         string
	Scopes       []string
	ForceRefresh bool
}

// Token returns the profile's token, reading the keyring only the first time.
func (m *Manager) Token(ctx context.Context, req TokenRequest) (Token, error) {
	name := req.Profile
	if name == "" && req.Host != "" {
		var err error
		if name, err = m.ProfileForHost(req.Host); err != nil {
			return Token{}, err
		}
	}
	e, err := m.lookup(name)
	if err != nil {
		return Token{}, err
	}
	e.mu.RLock()
	loaded := e.loaded
	e.mu.RUnlock()
	if !loaded {
		if err := m.loadSecret(ctx, e); err != nil {
			return Token{}, err
		}
	}
	if e.meta.Mode != ModeRotating {
		if len(req.Scopes) > 0 {
			return Token{}, fmt.Errorf("%w: profile %q serves its stored token as is (--static), which cannot be narrowed to scopes", ErrBadInput, name)
		}
		e.mu.RLock()
		defer e.mu.RUnlock()
		return Token{Value: e.token, Profile: e.viewLocked()}, nil
	}
	return m.derivedToken(ctx, e, req)
}

// loadSecret reads e's secret from the store once; concurrent callers wait
// for the first one rather than each asking the keyring.
func (m *Manager) loadSecret(ctx context.Context, e *entry) error {
	e.load.Lock()
	defer e.load.Unlock()
	e.mu.RLock()
	done := e.loaded
	e.mu.RUnlock()
	if done {
		return nil
	}
	name := e.meta.Name
	raw, err := m.store.Get(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			msg := fmt.Sprintf("the keyring holds no token for profile %q (deleted outside dbx-cred?): run dbx-cred login -p %s --host %s", name, name, e.meta.Host)
			e.setState(NeedsLogin, msg)
			return fmt.Errorf("%w: %s", ErrNeedsLogin, msg)
		}
		e.setState(KeyringUnavailable, err.Error())
		m.log.Warn("keyring read failed", "profile", name, "err", err)
		return fmt.Errorf("read the token of profile %q: %w", name, err)
	}
	var s secret
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Token == "" {
		msg := fmt.Sprintf("the keyring item for profile %q is not in dbx-cred's format: run dbx-cred login -p %s --host %s", name, name, e.meta.Host)
		e.setState(NeedsLogin, msg)
		return fmt.Errorf("%w: %s", ErrNeedsLogin, msg)
	}
	e.mu.Lock()
	e.token, e.loaded, e.state, e.stateMsg = s.Token, true, Ready, ""
	e.mu.Unlock()
	m.log.Debug("profile loaded from the keyring", "profile", name)
	return nil
}

func (m *Manager) lookup(name string) (*entry, error) {
	m.mu.RLock()
	e, ok := m.entries[name]
	m.mu.RUnlock()
	if ok {
		return e, nil
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	known := m.Names()
	if len(known) == 0 {
		return nil, fmt.Errorf("%w %q: no profiles yet: run dbx-cred login -p %s --host <workspace URL>", ErrUnknownProfile, name, name)
	}
	return nil, fmt.Errorf("%w %q: known profiles: %s (choose one with -p NAME, or log in with dbx-cred login -p %s --host <workspace URL>)",
		ErrUnknownProfile, name, strings.Join(known, ", "), name)
}

// ProfileForHost finds the one profile whose host is host (both normalised).
// Several matches are an error that lists them, since picking one silently
// could hand out the wrong user's token.
func (m *Manager) ProfileForHost(host string) (string, error) {
	norm, err := hosturl.Normalize(host)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	var matches []string
	m.mu.RLock()
	for n, e := range m.entries {
		if e.meta.Host == norm {
			matches = append(matches, n)
		}
	}
	m.mu.RUnlock()
	sort.Strings(matches)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%w: no profile for host %s: log in with dbx-cred login -p NAME --host %s", ErrUnknownProfile, norm, norm)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("%w: several profiles use host %s (%s): choose one with --profile", ErrBadInput, norm, strings.Join(matches, ", "))
}

// Names lists profile names in order.
func (m *Manager) Names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	names := make([]string, 0, len(m.entries))
	for n := range m.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// List describes every profile, in name order.
func (m *Manager) List() []Profile {
	m.mu.RLock()
	out := make([]Profile, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e.view())
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (e *entry) setState(s State, msg string) {
	e.mu.Lock()
	e.state, e.stateMsg = s, msg
	e.mu.Unlock()
}

func (e *entry) view() Profile {
	e.mu.RLock()
	p := e.viewLocked()
	live := e.liveDerived
	e.mu.RUnlock()
	p.LiveDerived = live
	e.tokenStatus(&p, time.Now())
	return p
}

func (e *entry) viewLocked() Profile {
	return Profile{Profile: e.meta, State: e.state, StateMessage: e.stateMsg}
}
