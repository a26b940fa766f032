package profiles

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// The operations here are the profile side of the daemon's store: which
// store new secrets go to (recorded per profile in the registry), forgetting
// every secret in memory when the store is locked, noticing a store that
// works again, and moving every secret to another store.

// SetStore names the store new logins record in the registry ("os",
// "file", "keyctl").
func (m *Manager) SetStore(name string) {
	m.mu.Lock()
	m.storeName = name
	m.mu.Unlock()
}

func (m *Manager) currentStore() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.storeName
}

// ProfilesByStore lists the profiles of each store the registry records.
func (m *Manager) ProfilesByStore() map[string][]string {
	out := map[string][]string{}
	m.mu.RLock()
	for _, o := range m.owners {
		s := registry.StoreOf(o.snapshot())
		out[s] = append(out[s], o.name)
	}
	m.mu.RUnlock()
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}

// UnloadThen unloads every profile, then runs then, with no profile
// loaded (or refresh started by a load) in between: the file store's lock
// runs there, so a U2M refresh in flight stores its new refresh token while
// the store is still open, and none starts after.
func (m *Manager) UnloadThen(ctx context.Context, then func()) int {
	m.env.loadGate.Lock()
	defer m.env.loadGate.Unlock()
	n := m.Unload(ctx)
	then()
	return n
}

// Unload forgets every profile's secret and stops its token sources, as
// if the daemon had just started: each profile is read from the store again
// on its next use (dbx-cred lock, where that read then fails as locked).
// Minted tokens are kept in the workspace for the next load to reuse or
// clean up. It returns how many profiles were loaded.
func (m *Manager) Unload(ctx context.Context) int {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.RLock()
	owners := make([]*owner, 0, len(m.owners))
	for _, o := range m.owners {
		owners = append(owners, o)
	}
	m.mu.RUnlock()
	n := 0
	for _, o := range owners {
		if ctx.Err() != nil {
			break
		}
		o.op.Lock()
		o.stop()
		// Read after stop: a U2M refresh that ended meanwhile recorded its
		// generation in meta, which the fresh owner must keep.
		o.mu.Lock()
		loaded, meta := o.loaded, o.meta
		o.mu.Unlock()
		o.mu.Lock()
		o.root, o.grant = "", nil
		o.mu.Unlock()
		// A request holding the old owner sees it closed and looks the
		// profile up again, finding the fresh one.
		m.mu.Lock()
		if m.owners[o.name] == o {
			m.owners[o.name] = newOwner(m.env, meta)
		}
		m.mu.Unlock()
		o.op.Unlock()
		if loaded {
			n++
		}
	}
	m.env.log.Info("profiles unloaded: secrets forgotten", "loaded_before", n)
	return n
}

// StoreBack is told that the store answers again (a Secret Service
// started, a keyring unlocked): profiles whose last read failed show as
// stored again instead of a stale error, and rotating ones load now.
func (m *Manager) StoreBack(ctx context.Context) {
	m.mu.RLock()
	var retry []*owner
	for _, o := range m.owners {
		o.mu.Lock()
		if (o.state == KeyringUnavailable || o.state == Locked) && !o.loaded {
			o.state, o.stateMsg = Stored, ""
			o.publishLocked()
			if o.cred.mints() {
				retry = append(retry, o)
			}
		}
		o.mu.Unlock()
	}
	m.mu.RUnlock()
	for _, o := range retry {
		if err := o.ensureLoaded(ctx); err != nil {
			m.env.log.Warn("could not prepare profile after the store came back", "profile", o.name, "err", err)
		}
	}
}

// Namespaces are the stores of one backend the profiles use.
type Namespaces struct {
	// Main holds profiles' secrets (and the metadata URLs: MainKeys).
	Main store.Store
	// Derived holds the minted tokens kept for reuse.
	Derived store.Store
}

// MigrateOptions describe a move of every secret to another store.
type MigrateOptions struct {
	To        string
	From, Dst Namespaces
	// MainKeys lists more keys of a profile in the main namespace to move
	// (the metadata URL's secret).
	MainKeys func(profile string) []string
	// Switch makes Dst the stores every later call uses; it runs after the
	// registry names the new store and before the old copies are deleted.
	Switch func()
}

// MigrateResult is what moved.
type MigrateResult struct {
	Moved []string // profiles
	// Left are items that could not be deleted from the old store (they
	// are copies: the new store holds each).
	Left int
	// Missing are profiles whose secret the old store did not hold: they
	// need a login either way.
	Missing []string
}

type item struct {
	derived bool
	key     string
	profile string
	main    bool // the profile's own secret
}

// recordStore names store as every owner's, in memory; undo puts back
// what each named before.
func recordStore(owners []*owner, store string) (undo func()) {
	prev := map[*owner]string{}
	for _, o := range owners {
		o.mu.Lock()
		prev[o] = o.meta.Store
		o.meta.Store = store
		o.publishLocked()
		o.mu.Unlock()
	}
	return func() {
		for o, s := range prev {
			o.mu.Lock()
			o.meta.Store = s
			o.publishLocked()
			o.mu.Unlock()
		}
	}
}

// Migrate moves every secret to opt.To: it copies each and reads it back
// from the new store, then switches the registry (one atomic write names
// the new store for every profile), then deletes the old copies. A crash
// (kill -9) anywhere leaves every secret in at least one store, and the
// registry naming a store that holds them all: before the switch the old
// store still holds everything; after it the new one does.
func (m *Manager) Migrate(ctx context.Context, opt MigrateOptions) (MigrateResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.env.persistMu.Lock()
	defer m.env.persistMu.Unlock()
	m.mu.RLock()
	owners := make([]*owner, 0, len(m.owners))
	for _, o := range m.owners {
		owners = append(owners, o)
	}
	m.mu.RUnlock()
	sort.Slice(owners, func(i, j int) bool { return owners[i].name < owners[j].name })

	var res MigrateResult
	var items []item
	for _, o := range owners {
		meta := o.snapshot()
		if _, none := o.cred.(rootInRegistry); none {
			continue // nothing in the store to move
		}
		items = append(items, item{key: secretKeyOf(meta), profile: meta.Name, main: true})
		if opt.MainKeys != nil {
			for _, k := range opt.MainKeys(meta.Name) {
				items = append(items, item{key: k, profile: meta.Name})
			}
		}
		for _, scopes := range meta.KeptScopes {
			items = append(items, item{derived: true, key: keptKey(meta, scopes), profile: meta.Name})
		}
	}
	ns := func(n Namespaces, it item) store.Store {
		if it.derived {
			return n.Derived
		}
		return n.Main
	}
	var copied []item
	for _, it := range items {
		v, err := ns(opt.From, it).Get(ctx, it.key)
		if errors.Is(err, store.ErrNotFound) {
			if it.main {
				res.Missing = append(res.Missing, it.profile)
			}
			continue
		}
		if err != nil {
			return MigrateResult{}, fmt.Errorf("read the secrets of profile %q from the old store (nothing was switched or deleted; retry once it answers): %w", it.profile, err)
		}
		if err := ns(opt.Dst, it).Set(ctx, it.key, v); err != nil {
			return MigrateResult{}, fmt.Errorf("write the secrets of profile %q to the %s store (nothing was switched or deleted): %w", it.profile, opt.To, err)
		}
		back, err := ns(opt.Dst, it).Get(ctx, it.key)
		if err != nil || back != v {
			return MigrateResult{}, fmt.Errorf("read back the secrets of profile %q from the %s store: they did not come back as written (nothing was switched or deleted): %v", it.profile, opt.To, err)
		}
		copied = append(copied, it)
	}
	if m.env.rot.CrashAt != nil {
		m.env.rot.CrashAt("migrate-after-copy")
	}

	// The switch: one registry write names the new store for everyone.
	undo := recordStore(owners, opt.To)
	oldName := m.currentStore()
	m.SetStore(opt.To)
	if err := m.saveRegistry(); err != nil {
		undo()
		m.SetStore(oldName)
		return MigrateResult{}, fmt.Errorf("record the new store in the registry (nothing was switched or deleted; the copies in the %s store are unused): %w", opt.To, err)
	}
	if opt.Switch != nil {
		opt.Switch()
	}
	if m.env.rot.CrashAt != nil {
		m.env.rot.CrashAt("migrate-after-switch")
	}
	moved := map[string]bool{}
	for _, it := range copied {
		if err := ns(opt.From, it).Delete(ctx, it.key); err != nil && !errors.Is(err, store.ErrNotFound) {
			res.Left++
			m.env.log.Warn("could not delete a migrated secret from the old store", "profile", it.profile, "err", err)
		}
		if it.main {
			moved[it.profile] = true
		}
	}
	for p := range moved {
		res.Moved = append(res.Moved, p)
	}
	sort.Strings(res.Moved)
	m.env.log.Info("store migrated", "from", oldName, "to", opt.To, "profiles", len(res.Moved), "left_in_old", res.Left, "missing", strings.Join(res.Missing, ","))
	return res, nil
}
