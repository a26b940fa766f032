package metadata

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// keyPrefix names a profile's URL secret in the keyring: "[metadata]prod".
// Profile names cannot contain '[' (profiles.ValidateName), so these keys
// never collide with a profile's own credential item. ("\x00" would do the
// same but D-Bus strings may not contain NUL.)
const keyPrefix = "[metadata]"

// secretBytes of randomness per URL: unguessable and, as base64url, a single
// 43-character path segment with nothing to escape.
const secretBytes = 32

// retryEvery bounds how often unknown paths make us retry keyring reads
// that failed (a locked keyring that is unlocked later).
const retryEvery = 10 * time.Second

// Key is the store key of profile's URL secret in the installation named
// install (the registry's daemon id): "[metadata]prod\x1f<install>". Every
// uid has one OS keyring and one kernel keyring, shared by each registry it
// runs (a second checkout, a container sharing the keyring, a test world),
// so a key of the profile name alone made two registries' "prod" share one
// URL, and a logout in one delete the other's.
func Key(install, profile string) string { return keyPrefix + profile + "\x1f" + install }

// LegacyKey is the key an older dbx-cred used, the profile name alone. An
// item found there is moved to Key on first read.
func LegacyKey(profile string) string { return keyPrefix + profile }

// Paths holds each profile's secret URL path. The secrets live in the store
// (the OS keyring) so URLs survive restarts, and in memory so a request
// never waits for the keyring once they are read. They are read lazily, on
// the first request whose path is not known yet, so a daemon that never
// serves the metadata service never touches the keyring for it. Safe for
// concurrent use.
type Paths struct {
	store   store.Store
	install string          // the installation's id, which namespaces the keys
	names   func() []string // every profile, for loading
	log     *slog.Logger

	// writeMu serialises keyring reads and writes of secrets end to end,
	// so a read in flight cannot resurrect a secret just forgotten.
	writeMu  sync.Mutex
	lastFail time.Time // of the last load that failed; guarded by writeMu

	mu      sync.RWMutex
	secrets map[string][]byte // profile -> path segment
	checked map[string]bool   // profiles whose keyring item was read (found or not)
}

// NewPaths returns an empty Paths backed by st, for the installation
// install; names lists the profiles whose secrets may be in st.
func NewPaths(st store.Store, install string, names func() []string, log *slog.Logger) *Paths {
	return &Paths{store: st, install: install, names: names, log: log, secrets: map[string][]byte{}, checked: map[string]bool{}}
}

func (p *Paths) key(profile string) string { return Key(p.install, profile) }

// get reads profile's secret, moving one stored under LegacyKey to its
// key first: copied, then deleted, so a failure in between leaves it
// readable at one of the two. writeMu is held.
func (p *Paths) get(ctx context.Context, profile string) (string, error) {
	s, err := p.store.Get(ctx, p.key(profile))
	if !errors.Is(err, store.ErrNotFound) {
		return s, err
	}
	old, lerr := p.store.Get(ctx, LegacyKey(profile))
	if lerr != nil {
		return "", err // not found at either
	}
	if err := p.store.Set(ctx, p.key(profile), old); err != nil {
		return "", fmt.Errorf("move the metadata URL of profile %q to its installation's key: %w", profile, err)
	}
	if err := p.store.Delete(ctx, LegacyKey(profile)); err != nil && !errors.Is(err, store.ErrNotFound) {
		p.log.Warn("metadata URL moved to its installation's key, but the old item could not be deleted", "profile", profile, "err", err)
	}
	p.log.Info("metadata URL moved to its installation's key", "profile", profile)
	return old, nil
}

// Lookup is Match, reading from the store the secrets not read yet when
// nothing matches. After a failed read (a locked keyring) it tries again
// at most every retryEvery, so unknown paths cannot hammer the keyring.
func (p *Paths) Lookup(ctx context.Context, seg string) (string, bool) {
	if name, ok := p.Match(seg); ok {
		return name, true
	}
	if !p.loadUnchecked(ctx) {
		return "", false
	}
	return p.Match(seg)
}

func (p *Paths) loadUnchecked(ctx context.Context) bool {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if !p.lastFail.IsZero() && time.Since(p.lastFail) < retryEvery {
		return false
	}
	var todo []string
	p.mu.RLock()
	for _, n := range p.names() {
		if !p.checked[n] {
			todo = append(todo, n)
		}
	}
	p.mu.RUnlock()
	if len(todo) == 0 {
		return false
	}
	if err := p.load(ctx, todo); err != nil {
		p.lastFail = time.Now()
		p.log.Warn("metadata service: cannot read URL secrets from the keyring; retrying on a later request", "err", err)
	} else {
		p.lastFail = time.Time{}
	}
	return true
}

// load reads the URL secrets of profiles from the store; writeMu is held.
// A profile without one has no URL until someone asks for it. It returns
// the first failure.
func (p *Paths) load(ctx context.Context, profiles []string) error {
	var first error
	for _, name := range profiles {
		s, err := p.get(ctx, name)
		switch {
		case err == nil:
			p.set(name, []byte(s))
		case errors.Is(err, store.ErrNotFound):
			p.mu.Lock()
			p.checked[name] = true
			p.mu.Unlock()
		case first == nil:
			first = fmt.Errorf("read the metadata URL of profile %q: %w", name, err)
		}
	}
	return first
}

// Secret returns profile's path segment, creating and storing one when the
// profile has none; rotate replaces it, and the old one stops matching at
// once. Nothing changes in memory unless the store accepted the new secret.
func (p *Paths) Secret(ctx context.Context, profile string, rotate bool) (string, error) {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if !rotate {
		p.mu.RLock()
		s, ok := p.secrets[profile]
		p.mu.RUnlock()
		if ok {
			return string(s), nil
		}
		// Not in memory: it may be in the keyring but unread (a failed
		// start-up read). Never replace a secret we merely could not read.
		s2, err := p.get(ctx, profile)
		switch {
		case err == nil:
			p.set(profile, []byte(s2))
			return s2, nil
		case !errors.Is(err, store.ErrNotFound):
			return "", fmt.Errorf("read the metadata URL of profile %q: %w", profile, err)
		}
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a metadata URL: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	if err := p.store.Set(ctx, p.key(profile), s); err != nil {
		if settled := store.Settled(err); settled != nil && rotate {
			p.mu.RLock()
			old, had := p.secrets[profile]
			p.mu.RUnlock()
			if had {
				go p.restoreAfter(settled, profile, s, string(old))
			}
		}
		return "", fmt.Errorf("store the metadata URL of profile %q (the current URL keeps working): %w", profile, err)
	}
	p.set(profile, []byte(s))
	return s, nil
}

// restoreAfter undoes a rotation whose store write timed out and landed
// later: the caller was told it failed and kept the old URL (written into
// .databrickscfg files), so a restart must not load the new one. It waits
// for the abandoned call to return (at most restoreWait), then reads back.
func (p *Paths) restoreAfter(settled <-chan struct{}, profile, failed, current string) {
	select {
	case <-settled:
	case <-time.After(restoreWait):
		p.log.Warn("a timed-out write of a metadata URL never returned; a restart may load a URL nobody was given", "profile", profile)
		return
	}
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := p.store.Get(ctx, p.key(profile))
	if err != nil || got != failed {
		return // it did not land, or something newer did
	}
	p.mu.RLock()
	now, ok := p.secrets[profile]
	p.mu.RUnlock()
	if !ok || string(now) != current {
		return // forgotten or rotated since
	}
	if err := p.store.Set(ctx, p.key(profile), current); err != nil {
		p.log.Warn("could not restore the metadata URL after a late store write; the URL may change at the next restart", "profile", profile, "err", err)
		return
	}
	p.log.Info("a metadata URL rotation that timed out landed late; the URL in use was restored", "profile", profile)
}

// restoreWait bounds how long restoreAfter waits for an abandoned call.
const restoreWait = 10 * time.Minute

func (p *Paths) set(profile string, s []byte) {
	p.mu.Lock()
	p.secrets[profile] = s
	p.checked[profile] = true
	p.mu.Unlock()
}

// Forget drops profile's URL from memory at once and from the store.
func (p *Paths) Forget(ctx context.Context, profile string) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	delete(p.secrets, profile)
	delete(p.checked, profile)
	p.mu.Unlock()
	// The legacy item too: a later login of the same name must not find
	// it and so inherit this profile's URL.
	for _, k := range []string{p.key(profile), LegacyKey(profile)} {
		if err := p.store.Delete(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete the metadata URL of profile %q: %w", profile, err)
		}
	}
	return nil
}

// Match returns the profile whose secret is seg. It compares seg with every
// profile's secret in constant time and without stopping at a match, so
// the time taken tells nothing about which profile (if any) matched, nor
// how much of a guess was right.
func (p *Paths) Match(seg string) (string, bool) {
	in := []byte(seg)
	p.mu.RLock()
	defer p.mu.RUnlock()
	found, idx := 0, -1
	names := make([]string, 0, len(p.secrets))
	for name, s := range p.secrets {
		eq := subtle.ConstantTimeCompare(in, s)
		idx = subtle.ConstantTimeSelect(eq, len(names), idx)
		found |= eq
		names = append(names, name)
	}
	if found == 1 {
		return names[idx], true
	}
	return "", false
}

// ForgetAll drops every URL secret from memory, not from the store: after
// the store is locked, a URL works again only once it can be read back.
func (p *Paths) ForgetAll() {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	p.mu.Lock()
	p.secrets, p.checked = map[string][]byte{}, map[string]bool{}
	p.mu.Unlock()
	p.lastFail = time.Time{}
}
