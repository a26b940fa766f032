package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/adapter/metadata"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/file"
	"github.com/dbx-cred/dbx-cred/daemon/store/keyctl"
	"github.com/dbx-cred/dbx-cred/daemon/store/oskeyring"
)

// Store choices of --store and DBX_CRED_STORE.
const (
	StoreAuto   = "auto"
	StoreOS     = "os"
	StoreFile   = file.Name
	StoreKeyctl = keyctl.Name
)

// ParseStore checks a --store value.
func ParseStore(s string) (string, error) {
	switch s {
	case "":
		return StoreAuto, nil
	case StoreAuto, StoreOS, StoreFile, StoreKeyctl:
		return s, nil
	}
	return "", fmt.Errorf("--store %q: choose auto, os, file or keyctl", s)
}

// backend is one store's namespaces as the daemon uses them.
type backend struct {
	name          string // "os", "file", "keyctl"; "" for none usable
	main, derived store.Store
	probe         func(ctx context.Context) store.Health
	vault         *file.Vault // the file store's, else nil
}

type storeConfig struct {
	timeout  time.Duration
	getenv   func(string) string
	filePath string
	work     int // scrypt work factor of a new file; 0: the default
}

func openBackend(name string, cfg storeConfig) (*backend, error) {
	switch name {
	case StoreOS:
		k := oskeyring.NewKeyring(KeyringService, cfg.timeout, cfg.getenv)
		return &backend{name: name, main: k,
			// Minted tokens live under their own service name, so no
			// profile name can ever collide with one.
			derived: oskeyring.NewKeyring(KeyringService+"-derived", cfg.timeout, cfg.getenv), probe: k.Probe}, nil
	case StoreFile:
		v := file.New(cfg.filePath, file.Options{WorkFactor: cfg.work})
		return &backend{name: name, main: v.Namespace(KeyringService), derived: v.Namespace(KeyringService + "-derived"), probe: v.Probe, vault: v}, nil
	case StoreKeyctl:
		r := keyctl.Open(keyctlRing(cfg.getenv, keyctl.DefaultRing))
		return &backend{name: name, main: r.Namespace(KeyringService), derived: r.Namespace(KeyringService + "-derived"), probe: r.Probe}, nil
	}
	return nil, fmt.Errorf("unknown store %q", name)
}

// choices lists every store with a one-line note and the command that
// chooses it: the diagnosis of a daemon with no usable store.
func choices(filePath string) string {
	kc := "the Linux kernel keyring: no passphrase and nothing on disk, readable by processes of your uid as the OS keyring is; survives daemon restarts and logout, not a reboot"
	if ok, why := keyctl.Available(); !ok {
		kc = "not here: " + why
	}
	return strings.Join([]string{
		"  os      the OS keyring (Secret Service, Keychain, Credential Manager): needs a desktop session or a running",
		"          gnome-keyring or KeePassXC; dbx-credd picks it up by itself once it answers",
		"  file    an encrypted file, " + filePath + " (age, passphrase asked once per daemon start); survives reboots:",
		"          DBX_CRED_STORE=file dbx-cred daemon restart && dbx-cred unlock",
		"  keyctl  " + kc + ":",
		"          DBX_CRED_STORE=keyctl dbx-cred daemon restart",
		"  (a service carries the choice too: DBX_CRED_STORE=file dbx-credd install)",
	}, "\n")
}

// undecided is the store of "auto" when the OS keyring does not answer:
// every call goes to the OS keyring (so one that starts answering is used
// at once), and a failure says what is missing and lists every store.
// Nothing falls back to another store silently.
type undecided struct {
	os       store.Store
	filePath string
}

func (u undecided) wrap(err error) error {
	var ue *store.UnavailableError
	if !errors.As(err, &ue) {
		return err
	}
	c := *ue
	c.Reason = "no store is usable: the OS keyring does not answer (" + ue.Reason + ")"
	c.Fix = "choose a store:\n" + choices(u.filePath) + "\n "
	return &c
}

func (u undecided) Get(ctx context.Context, key string) (string, error) {
	v, err := u.os.Get(ctx, key)
	return v, u.wrap(err)
}
func (u undecided) Set(ctx context.Context, key, secret string) error {
	return u.wrap(u.os.Set(ctx, key, secret))
}
func (u undecided) Delete(ctx context.Context, key string) error {
	return u.wrap(u.os.Delete(ctx, key))
}

// CheckWrite implements store.WriteChecker: a read of the key says
// whether the OS keyring answers, without writing.
func (u undecided) CheckWrite(ctx context.Context, key string) error {
	_, err := u.os.Get(ctx, key)
	var ue *store.UnavailableError
	if errors.As(err, &ue) {
		return u.wrap(err)
	}
	return nil
}

func (u undecided) Backend() string { return "none chosen (the OS keyring does not answer)" }

// stores is the daemon's store: which one serves, its cached health, and
// the operations of the store RPCs (server.Stores).
//
// Locks: mu guards the fields below it; it is never held across a store
// call, an unlock's scrypt, or a profile operation.
type stores struct {
	cfg  storeConfig
	log  *slog.Logger
	mgr  *profiles.Manager
	main *store.Switch // profiles' secrets and metadata URLs
	der  *store.Switch // minted tokens
	// paths: the metadata URLs held in memory, forgotten on lock.
	paths *metadata.Paths

	// op serialises unlock, lock and migrate.
	op sync.Mutex

	mu     sync.Mutex
	cur    *backend
	health store.Health
}

// chooseStore picks the store to serve from the choice and the stores the
// registry records: explicit choices must match the registry; auto follows
// it, and else uses the OS keyring when it answers (else none: undecided).
func chooseStore(ctx context.Context, choice string, recorded map[string][]string, cfg storeConfig, log *slog.Logger) (*backend, error) {
	var where []string
	for s := range recorded {
		where = append(where, s)
	}
	sort.Strings(where)
	if choice != StoreAuto {
		for _, s := range where {
			if s != choice {
				return nil, fmt.Errorf("profiles %s live in the %s store, not the %s store asked for (--store or DBX_CRED_STORE), so this daemon would not find them: "+
					"start dbx-credd with --store %s (or DBX_CRED_STORE=%s), then move them with dbx-cred store migrate --to %s",
					strings.Join(recorded[s], ", "), s, choice, s, s, choice)
			}
		}
		return openBackend(choice, cfg)
	}
	switch len(where) {
	case 1:
		log.Info("store: auto follows the registry", "store", where[0])
		return openBackend(where[0], cfg)
	case 0:
	default:
		return nil, fmt.Errorf("the registry records profiles in several stores (%s): start dbx-credd with --store NAME for one of them, then dbx-cred store migrate --to NAME", strings.Join(where, ", "))
	}
	os, _ := openBackend(StoreOS, cfg)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if h := os.probe(pctx); h.Reachable {
		return os, nil
	}
	return &backend{main: undecided{os.main, cfg.filePath}, derived: undecided{os.derived, cfg.filePath}, probe: os.probe}, nil
}

func (s *stores) current() *backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// watch probes the store every interval until ctx ends: a store that
// answers again (a Secret Service started, a keyring unlocked) is picked up
// without a restart, and an undecided auto adopts the OS keyring.
func (s *stores) watch(ctx context.Context, interval time.Duration) {
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

func (s *stores) refresh(ctx context.Context) {
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
		os, _ := openBackend(StoreOS, s.cfg)
		s.use(os)
		s.log.Info("store: the OS keyring answers now; using it")
	}
	if h.Reachable && !h.Locked && (!was.Reachable || was.Locked) {
		s.mgr.StoreBack(ctx)
	}
}

// use makes b the store every later call goes to.
func (s *stores) use(b *backend) {
	s.mu.Lock()
	s.cur = b
	s.mu.Unlock()
	s.main.Swap(b.main)
	s.der.Swap(b.derived)
	if b.name != "" {
		s.mgr.SetStore(b.name)
	}
}

// Info implements server.Stores, from the last probe (status never waits
// on a keyring).
func (s *stores) Info(context.Context) core.StoreInfo {
	s.mu.Lock()
	b, h := s.cur, s.health
	s.mu.Unlock()
	i := core.StoreInfo{Name: b.name, Backend: b.main.Backend(), Reachable: h.Reachable, Locked: h.Locked, Note: h.Note}
	if b.vault != nil {
		i.Exists = b.vault.Exists()
		i.Locked = b.vault.Locked()
	}
	if b.name == "" {
		i.Note = "no store is usable: the OS keyring does not answer (" + h.Note + "). Choose a store:\n" + choices(s.cfg.filePath)
	}
	return i
}

// Unlock implements server.Stores.
func (s *stores) Unlock(ctx context.Context, passphrase string, create bool) (bool, error) {
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

// Lock implements server.Stores: the key and every secret in memory go,
// the file store's and the profiles' and the metadata URLs'.
func (s *stores) Lock(ctx context.Context) (int, error) {
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
	if s.paths != nil {
		s.paths.ForgetAll()
	}
	s.refresh(ctx)
	s.log.Info("file store locked: key and secrets forgotten", "profiles_unloaded", n)
	return n, nil
}

func (s *stores) notFile(op string) error {
	b := s.current()
	if b.name == "" {
		return fmt.Errorf("there is nothing to %s: no store is chosen yet. Choose one:\n%s", op, choices(s.cfg.filePath))
	}
	return fmt.Errorf("there is nothing to %s: this daemon keeps secrets in the %s store, which has no passphrase (only --store file has one)", op, b.name)
}

// Migrate implements server.Stores.
func (s *stores) Migrate(ctx context.Context, to, passphrase string) (string, []string, string, error) {
	s.op.Lock()
	defer s.op.Unlock()
	if to == StoreAuto || to == "" {
		return "", nil, "", fmt.Errorf("store migrate needs --to os, file or keyctl")
	}
	if _, err := ParseStore(to); err != nil {
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
		MainKeys: func(p string) []string { return []string{metadata.Key(p)} },
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
