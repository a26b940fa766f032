// Package manage is the daemon's store as it serves: which backend (the OS
// keyring, the encrypted file, the kernel keyring) holds the secrets, how
// auto chooses one without ever falling back silently, its health as the
// last probe saw it, and the operations on it (unlock, lock, migrate). The
// profiles see only two store.Switch values, main and derived, that this
// package points at the backend in use.
package manage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/file"
	"github.com/dbx-cred/dbx-cred/daemon/store/keyctl"
	"github.com/dbx-cred/dbx-cred/daemon/store/oskeyring"
)

// KeyringService is the service name of every keyring item dbx-cred
// writes; minted tokens live under KeyringService+"-derived", so no profile
// name can ever collide with one.
const KeyringService = "dbx-cred"

// Store choices of --store and DBX_CRED_STORE.
const (
	Auto   = "auto"
	OS     = "os"
	File   = file.Name
	Keyctl = keyctl.Name
)

// ParseChoice checks a --store value.
func ParseChoice(s string) (string, error) {
	switch s {
	case "":
		return Auto, nil
	case Auto, OS, File, Keyctl:
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

// Config says where each backend is and how long the OS keyring may take.
type Config struct {
	KeyringTimeout time.Duration
	Getenv         func(string) string
	FilePath       string // the file store's path
	FileWork       int    // scrypt work factor of a new file; 0: the default
	KeyctlRing     string // the kernel keyring's ring name; "": keyctl.DefaultRing
}

func openBackend(name string, cfg Config) (*backend, error) {
	switch name {
	case OS:
		k := oskeyring.NewKeyring(KeyringService, cfg.KeyringTimeout, cfg.Getenv)
		return &backend{name: name, main: k,
			derived: oskeyring.NewKeyring(KeyringService+"-derived", cfg.KeyringTimeout, cfg.Getenv), probe: k.Probe}, nil
	case File:
		v := file.New(cfg.FilePath, file.Options{WorkFactor: cfg.FileWork})
		return &backend{name: name, main: v.Namespace(KeyringService), derived: v.Namespace(KeyringService + "-derived"), probe: v.Probe, vault: v}, nil
	case Keyctl:
		ring := cfg.KeyctlRing
		if ring == "" {
			ring = keyctl.DefaultRing
		}
		r := keyctl.Open(ring)
		return &backend{name: name, main: r.Namespace(KeyringService), derived: r.Namespace(KeyringService + "-derived"), probe: r.Probe}, nil
	}
	return nil, fmt.Errorf("unknown store %q", name)
}

// Choices lists every store with a one-line note and the command that
// chooses it: the diagnosis of a daemon with no usable store.
func Choices(filePath string) string {
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
	c.Fix = "choose a store:\n" + Choices(u.filePath) + "\n "
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

// choose picks the store to serve from the choice and the stores the
// registry records: explicit choices must match the registry; auto follows
// it, and else uses the OS keyring when it answers (else none: undecided).
func choose(ctx context.Context, choice string, recorded map[string][]string, cfg Config, log *slog.Logger) (*backend, error) {
	var where []string
	for s := range recorded {
		where = append(where, s)
	}
	sort.Strings(where)
	if choice != Auto {
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
	os, _ := openBackend(OS, cfg)
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if h := os.probe(pctx); h.Reachable {
		return os, nil
	}
	return &backend{main: undecided{os.main, cfg.FilePath}, derived: undecided{os.derived, cfg.FilePath}, probe: os.probe}, nil
}
