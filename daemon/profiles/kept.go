package profiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
)

// env is what every owner shares: the stores, the workspace, the log, and
// the hook that saves an owner's changed registry entry. It holds no
// mutable state of its own.
type env struct {
	store    store.Store
	rot      Rotation
	log      *slog.Logger
	daemonID string
	// saveMeta writes the registry as the owners now hold it.
	saveMeta func() error
	// persistMu: U2M refreshes store their new refresh token under a read
	// lock; a store migration holds the write lock from its first copy to
	// its switch, so no refresh token is stored in the old store after its
	// copy was taken (the new store would then hold a superseded one).
	persistMu sync.RWMutex
	// loadGate: loading a profile from the store holds it for reading;
	// UnloadThen holds it for writing, so no profile is loaded, and no
	// refresh started by a load, between its unload and what follows it
	// (the file store's lock, after which a new refresh token could not
	// be stored).
	loadGate sync.RWMutex
	// auto is the Manager's rotator, which status asks for its schedule.
	auto *rotator
}

// comment marks a minted token as this installation's, for this login of
// this profile. The clean-up only ever revokes tokens with exactly its own
// login's comment: a token of the next login of the same name (its trial
// token, minted before the old login is retired) is never taken for a
// leftover. Tokens of a replaced login are revoked when it is retired;
// ones a crash left behind expire within their lifetime.
func (e *env) comment(p registry.Profile) string {
	c := "dbx-cred:" + e.daemonID + ":" + p.Name
	if p.LoginID != "" {
		c += ":" + p.LoginID
	}
	return c
}

// keptKey names the store item of a profile's minted token for a scope set.
// It binds the token to the host, user and root (by the root's own store
// key, new at every login and rotate) that minted it, so a later login of
// the same profile name elsewhere, or as someone else, can never find it.
func keptKey(p registry.Profile, scopes string) string {
	h := sha256.Sum256([]byte(p.Host + "\x00" + p.UserName + "\x00" + secretKeyOf(p)))
	return p.Name + "\x1f" + scopes + "\x1f" + hex.EncodeToString(h[:8])
}

type kept struct {
	Value  string    `json:"token"`
	ID     string    `json:"id"`
	Expiry time.Time `json:"expiry"`
}

// keep stores t as the profile's current token for scopes, and records the
// scope set in the registry the first time, so logout finds it.
func (e *env) keep(ctx context.Context, o *owner, scopes string, t tokensource.Token) {
	if e.rot.Derived == nil || t.Value == "" || t.Expiry.Sub(e.rot.Clock.Now()) < persistMinLife {
		return
	}
	meta := o.snapshot()
	if !slices.Contains(meta.KeptScopes, scopes) {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return
		}
		o.meta.KeptScopes = append(slices.Clone(o.meta.KeptScopes), scopes)
		meta = o.meta
		o.publishLocked()
		o.mu.Unlock()
		if err := e.saveMeta(); err != nil {
			e.log.Warn("could not record the kept token in the registry; not keeping it", "profile", meta.Name, "err", err)
			return
		}
	}
	b, _ := json.Marshal(kept{t.Value, t.ID, t.Expiry})
	key := keptKey(meta, scopes)
	if err := e.rot.Derived.Set(ctx, key, string(b)); err != nil {
		e.log.Warn("could not keep the minted token in the store", "profile", meta.Name, "err", err)
		return
	}
	// A logout or rotate may have run meanwhile and deleted the kept
	// tokens it knew of: then this one belongs to nobody, so it goes too.
	o.mu.Lock()
	stale := o.closed || secretKeyOf(o.meta) != secretKeyOf(meta)
	o.mu.Unlock()
	if stale {
		if err := e.rot.Derived.Delete(ctx, key); err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("could not delete a kept token of a finished login", "profile", meta.Name, "err", err)
		}
	}
}

// loadKept returns the kept token for scopes, or none. A token this daemon
// revoked itself is never served again, whatever the store says.
func (e *env) loadKept(ctx context.Context, o *owner, meta registry.Profile, scopes string) tokensource.Token {
	if e.rot.Derived == nil || !slices.Contains(meta.KeptScopes, scopes) {
		return tokensource.Token{}
	}
	raw, err := e.rot.Derived.Get(ctx, keptKey(meta, scopes))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("could not read the kept token; minting a new one", "profile", meta.Name, "err", err)
		}
		return tokensource.Token{}
	}
	var k kept
	if json.Unmarshal([]byte(raw), &k) != nil || o.wasRevoked(k.ID) || !e.stillLive(ctx, o, meta, k.ID) {
		return tokensource.Token{}
	}
	return tokensource.Token{Value: k.Value, ID: k.ID, Expiry: k.Expiry}
}

// stillLive asks the workspace whether a kept token is still alive: an
// earlier daemon may have revoked it (a superseded token whose successor
// could not be kept), and this daemon's memory of what it revoked starts
// empty. A workspace that cannot be asked gets the benefit of the doubt:
// minting would fail too, and the token may well be good.
func (e *env) stillLive(ctx context.Context, o *owner, meta registry.Profile, id string) bool {
	o.mu.Lock()
	root := o.root
	o.mu.Unlock()
	if root == "" {
		return true
	}
	list, err := e.rot.Tokens(meta.Host, root).List(ctx)
	if err != nil {
		return true
	}
	for _, ti := range list {
		if ti.ID == id {
			return true
		}
	}
	e.log.Info("a kept token is no longer alive in the workspace; minting a new one", "profile", meta.Name)
	return false
}

// forgetKept deletes the kept token for scopes (its source was retired).
func (e *env) forgetKept(ctx context.Context, o *owner, scopes string) {
	if e.rot.Derived == nil {
		return
	}
	o.mu.Lock()
	meta := o.meta
	i := slices.Index(meta.KeptScopes, scopes)
	if i >= 0 && !o.closed {
		o.meta.KeptScopes = slices.Delete(slices.Clone(meta.KeptScopes), i, i+1)
		o.publishLocked()
	}
	closed := o.closed
	o.mu.Unlock()
	if i < 0 {
		return
	}
	if err := e.rot.Derived.Delete(ctx, keptKey(meta, scopes)); err != nil && !errors.Is(err, store.ErrNotFound) {
		e.log.Warn("could not delete a kept token", "profile", meta.Name, "err", err)
	}
	if !closed {
		if err := e.saveMeta(); err != nil {
			e.log.Warn("could not update the registry's kept tokens", "profile", meta.Name, "err", err)
		}
	}
}

// deleteAllKept deletes every kept token of the profile as meta describes
// it (logout, re-login, rotate).
func (e *env) deleteAllKept(ctx context.Context, meta registry.Profile) {
	if e.rot.Derived == nil {
		return
	}
	for _, scopes := range meta.KeptScopes {
		if err := e.rot.Derived.Delete(ctx, keptKey(meta, scopes)); err != nil && !errors.Is(err, store.ErrNotFound) {
			e.log.Warn("could not delete a kept token", "profile", meta.Name, "err", err)
		}
	}
}

func splitScopes(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ",")
}
