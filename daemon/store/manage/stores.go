package manage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// Stores is the daemon's store: which one serves, its cached health, and
// the operations on it (core.Stores).
//
// Locks: mu guards the fields below it; it is never held across a store
// call, an unlock's scrypt, or a profile operation.
type Stores struct {
	cfg  Config
	log  *slog.Logger
	mgr  *profiles.Manager
	main *store.Switch // profiles' secrets and metadata URLs
	der  *store.Switch // minted tokens
	// extraKeys names the items beside a profile's secret in the main
	// namespace that move with it (the metadata service's URL secret).
	extraKeys func(profile string) []string

	// op serialises unlock, lock and migrate.
	op sync.Mutex

	mu     sync.Mutex
	cur    *backend
	health store.Health
}

// Chosen is the store chosen at start, and the two switches the profiles
// read and write through: main (secrets, metadata URLs) and derived
// (minted tokens). Stores later points them at another backend.
type Chosen struct {
	Name          string // "" when none is usable yet (auto, no OS keyring)
	Main, Derived *store.Switch
	b             *backend
}

// Choose picks the store to serve from choice (ParseChoice's) and the
// stores the registry records for its profiles (store name -> profiles).
func Choose(ctx context.Context, choice string, recorded map[string][]string, cfg Config, log *slog.Logger) (Chosen, error) {
	b, err := choose(ctx, choice, recorded, cfg, log)
	if err != nil {
		return Chosen{}, err
	}
	return Chosen{Name: b.name, Main: store.NewSwitch(b.main), Derived: store.NewSwitch(b.derived), b: b}, nil
}

// New serves c to mgr, whose profiles were loaded over c's switches.
// extraKeys names the items that move with a profile's secret in a
// migration. It probes the store once before returning.
func New(ctx context.Context, c Chosen, mgr *profiles.Manager, extraKeys func(profile string) []string, cfg Config, log *slog.Logger) *Stores {
	s := &Stores{cfg: cfg, log: log, mgr: mgr, main: c.Main, der: c.Derived, extraKeys: extraKeys}
	s.use(c.b)
	s.refresh(ctx)
	return s
}

// Store is the main namespace as it is now (store.Switch follows changes).
func (s *Stores) Store() store.Store { return s.main }

func (s *Stores) current() *backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Watch probes the store every interval until ctx ends: a store that
// answers again (a Secret Service started, a keyring unlocked) is picked up
// without a restart, and an undecided auto adopts the OS keyring.
func (s *Stores) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Stores) refresh(ctx context.Context) {
	b := s.current()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	h := b.probe(pctx)
	cancel()
	s.mu.Lock()
	was := s.health
	s.health = h
	adopt := b.name == "" && h.Reachable && s.cur == b
	s.mu.Unlock()
	if adopt {
		os, _ := openBackend(OS, s.cfg)
		s.use(os)
		s.log.Info("store: the OS keyring answers now; using it")
	}
	if h.Reachable && !h.Locked && (!was.Reachable || was.Locked) {
		s.mgr.StoreBack(ctx)
	}
}

// use makes b the store every later call goes to.
func (s *Stores) use(b *backend) {
	s.mu.Lock()
	s.cur = b
	s.mu.Unlock()
	s.main.Swap(b.main)
	s.der.Swap(b.derived)
	if b.name != "" {
		s.mgr.SetStore(b.name)
	}
}

// Info implements core.Stores, from the last probe (status never waits
// on a keyring).
func (s *Stores) Info(context.Context) core.StoreInfo {
	s.mu.Lock()
	b, h := s.cur, s.health
	s.mu.Unlock()
	i := core.StoreInfo{Name: b.name, Backend: b.main.Backend(), Reachable: h.Reachable, Locked: h.Locked, Note: h.Note}
	if b.vault != nil {
		i.Exists = b.vault.Exists()
		i.Locked = b.vault.Locked()
	}
	if b.name == "" {
		i.Note = "no store is usable: the OS keyring does not answer (" + h.Note + "). Choose a store:\n" + Choices(s.cfg.FilePath)
	}
	return i
}

// Unlock implements core.Stores.
func (s *Stores) Unlock(ctx context.Context, passphrase string, create bool) (bool, error) {
	s.op.Lock()
	defer s.op.Unlock()
	b := s.current()
	if b.vault == nil {
		return false, s.notFile("unlock")
	}
	existed := b.vault.Exists()
	if err := b.vault.Unlock(ctx, passphrase, create); err != nil {
		return false, err
	}
	s.log.Info("file store unlocked", "file", b.vault.Path(), "created", !existed)
	s.refresh(ctx)
	return !existed, nil
}

// Lock implements core.Stores: the file store's key and every profile's
// secret in memory go (the core then has the metadata URLs forgotten).
func (s *Stores) Lock(ctx context.Context) (int, error) {
	s.op.Lock()
	defer s.op.Unlock()
	b := s.current()
	if b.vault == nil {
		return 0, s.notFile("lock")
	}
	// Unload first: a U2M refresh in flight then still stores its new
	// refresh token (the only valid one) before the key goes, and no
	// profile loads in between.
	n := s.mgr.UnloadThen(ctx, b.vault.Lock)
	s.refresh(ctx)
	s.log.Info("file store locked: key and secrets forgotten", "profiles_unloaded", n)
	return n, nil
}

func (s *Stores) notFile(op string) error {
	b := s.current()
	if b.name == "" {
		return fmt.Errorf("there is nothing to %s: no store is chosen yet. Choose one:\n%s", op, Choices(s.cfg.FilePath))
	}
	return fmt.Errorf("there is nothing to %s: this daemon keeps secrets in the %s store, which has no passphrase. To keep them in the passphrase-protected file store instead, move them there: dbx-cred store migrate --to file", op, b.name)
}

// Migrate implements core.Stores.
func (s *Stores) Migrate(ctx context.Context, to, passphrase string) (string, []string, string, error) {
	s.op.Lock()
	defer s.op.Unlock()
	if to == Auto || to == "" {
		return "", nil, "", fmt.Errorf("store migrate needs --to os, file or keyctl")
	}
	if _, err := ParseChoice(to); err != nil {
		return "", nil, "", err
	}
	from := s.current()
	if from.name == to {
		return from.name, nil, "", fmt.Errorf("the secrets are in the %s store already: nothing to move", to)
	}
	dst, err := openBackend(to, s.cfg)
	if err != nil {
		return "", nil, "", err
	}
	if dst.vault != nil {
		if err := dst.vault.Unlock(ctx, passphrase, true); err != nil {
			return "", nil, "", err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	h := dst.probe(pctx)
	cancel()
	if !h.Reachable {
		return "", nil, "", fmt.Errorf("the %s store cannot be used here (%s); nothing moved", to, h.Note)
	}
	src := from
	if from.name == "" {
		// Nothing can live in an undecided store: choosing is all.
		s.use(dst)
		s.refresh(ctx)
		return "none", nil, fmt.Sprintf("the daemon now uses the %s store; start it with --store %s (or DBX_CRED_STORE=%s) from now on", to, to, to), nil
	}
	res, err := s.mgr.Migrate(ctx, profiles.MigrateOptions{
		To:       to,
		From:     profiles.Namespaces{Main: src.main, Derived: src.derived},
		Dst:      profiles.Namespaces{Main: dst.main, Derived: dst.derived},
		MainKeys: s.extraKeys,
		Switch:   func() { s.use(dst) },
	})
	if err != nil {
		return from.name, nil, "", err
	}
	s.refresh(ctx)
	advice := fmt.Sprintf("the registry now names the %s store, and a dbx-credd started with --store auto (the default) follows it; "+
		"if you start it with --store or DBX_CRED_STORE (or a service does: dbx-credd install again), change that to %s.", to, to)
	if res.Left > 0 {
		advice += fmt.Sprintf(" %d copies could not be deleted from the %s store (see the daemon's log); the %s store holds each.", res.Left, from.name, to)
	} else if from.vault != nil {
		// The file and its previous version would otherwise keep every
		// secret just moved, encrypted under the old passphrase, for good.
		unused, err := from.vault.Remove(ctx)
		switch {
		case err != nil:
			advice += " " + err.Error() + "."
			s.log.Warn("could not remove the old file store", "err", err)
		default:
			advice += fmt.Sprintf(" The old file store %s and its previous version %s.1 are deleted.", from.vault.Path(), from.vault.Path())
			s.log.Info("old file store removed after migrate", "file", from.vault.Path(), "unused_items_dropped", unused)
		}
	}
	if len(res.Missing) > 0 {
		advice += " The old store held no secret for " + strings.Join(res.Missing, ", ") + ": log in to each again."
	}
	return from.name, res.Moved, advice, nil
}

// ProbeWrite implements core.Stores: it writes a random item, reads it
// back and deletes it, since a store that answers status questions can
// still refuse writes (a read-only file, a full keyring quota).
func (s *Stores) ProbeWrite(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	b := make([]byte, 16)
	rand.Read(b)
	key := "dbx-cred-doctor-probe-" + hex.EncodeToString(b[:8])
	val := hex.EncodeToString(b[8:])
	st := s.main
	if err := st.Set(ctx, key, val); err != nil {
		return fmt.Errorf("write a probe item: %w", err)
	}
	got, err := st.Get(ctx, key)
	delErr := st.Delete(ctx, key)
	switch {
	case err != nil:
		return fmt.Errorf("read the probe item back: %w", err)
	case got != val:
		return fmt.Errorf("the probe item read back differs from what was written")
	case delErr != nil:
		return fmt.Errorf("delete the probe item %s: %w", key, delErr)
	}
	return nil
}

// probeTimeout bounds ProbeWrite: three calls a healthy store answers in
// well under a second.
const probeTimeout = 10 * time.Second
