// Package file is the store backend for machines without a keyring (SSH
// sessions, servers, WSL, containers): one file, encrypted with age, whose
// key is derived from a passphrase the user gives once per daemon start
// (dbx-cred unlock), never per call.
//
// The file is JSON with two age files in it, both ASCII-armoured:
//
//	{"format": "dbx-cred-store", "version": 1,
//	 "identity": age file (scrypt passphrase) holding an X25519 identity,
//	 "secrets":  age file to that identity's recipient, holding the secrets}
//
// Two layers because age derives a new scrypt key for every file it
// encrypts (about a second, by design): with the identity wrapped once,
// a write costs an X25519 encryption and the passphrase is needed only to
// unlock. Both are standard age files, so the age tool can recover the
// secrets without dbx-cred:
//
//	jq -r .identity FILE | age -d > id.txt   # asks for the passphrase
//	jq -r .secrets FILE | age -d -i id.txt
//
// Nothing secret is ever written in clear: not the file, not a temporary
// file (each write is a new encrypted file renamed over the old one after
// fsync), not the previous version kept beside it as FILE.1. And nothing
// removed stays on disk: a write that deletes or replaces a secret (logout,
// a rotated refresh token) rewrites FILE.1 too, so the previous version
// never holds a secret the current one no longer has; after a store
// migrate away from the file store, both files go (Remove).
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/atomicfile"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Name is this backend's name in --store and in the registry.
const Name = "file"

// DefaultWorkFactor is age's own scrypt default (2^18): about a second and
// 256 MiB once per unlock, which is what makes a guessed passphrase costly.
const DefaultWorkFactor = 18

// formatName marks the file as ours, so a stray JSON file is "damaged", not
// "wrong passphrase".
const formatName = "dbx-cred-store"

const formatVersion = 1

// MinPassphrase is the shortest passphrase a new file accepts.
const MinPassphrase = 8

// DefaultPath is secrets.age under $XDG_DATA_HOME/dbx-cred (else
// ~/.local/share/dbx-cred): data, not configuration, and never synced by
// dotfile managers the way ~/.config often is.
func DefaultPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "dbx-cred", "secrets.age"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the data directory for the file store: %w (set XDG_DATA_HOME)", err)
	}
	return filepath.Join(home, ".local", "share", "dbx-cred", "secrets.age"), nil
}

// ErrWrongPassphrase: the passphrase does not open the file.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// ErrShortPassphrase: a new file store's passphrase is shorter than
// MinPassphrase. Bad input, not a wrong passphrase: there is nothing yet
// for it to be wrong about.
var ErrShortPassphrase = errkind.New(errkind.BadInput, "the passphrase is too short")

// ErrNoFile: unlock was asked to open a file that does not exist.
var ErrNoFile = errors.New("no file store yet")

// DamagedError: the file is not a store dbx-cred can read. It is never
// overwritten; the previous version is beside it.
type DamagedError struct {
	Path, Reason string
}

func (e *DamagedError) Error() string {
	fix := "move it aside, then dbx-cred unlock creates a new one and each profile needs dbx-cred login again"
	if _, err := os.Stat(e.Path + ".1"); err == nil {
		fix = fmt.Sprintf("the previous version is %s: mv %s %s.damaged && cp %s %s, then dbx-cred unlock (profiles logged in since that version need dbx-cred login again)",
			e.Path+".1", e.Path, e.Path, e.Path+".1", e.Path)
	}
	return fmt.Sprintf("the file store %s is damaged (%s); dbx-cred did not change it. Fix: %s", e.Path, e.Reason, fix)
}

// Options tune a Vault.
type Options struct {
	// WorkFactor is scrypt's log2(N) for a new file; 0 is DefaultWorkFactor.
	WorkFactor int
}

// Vault is the file and, once unlocked, its secrets in memory. Each Store
// the daemon uses (profiles' secrets, minted tokens, metadata URLs) is a
// namespace of the one Vault.
//
// Locks: lock (a channel, so waiting honours ctx) guards every field below
// it and is held across a file write, which is local and short; scrypt runs
// outside it.
type Vault struct {
	path string
	opt  Options

	lock chan struct{}
	// identity decrypts the secrets; nil while locked.
	identity *age.X25519Identity
	// wrapped is the file's identity part as read or first written: it is
	// rewritten unchanged, so no write needs the passphrase.
	wrapped string
	// data: namespace -> key -> secret.
	data map[string]map[string]string
	// written is the hash of the file as this Vault last read or wrote it:
	// a file changed behind its back is never overwritten.
	written [32]byte
}

// New returns a locked Vault for the file at path.
func New(path string, opt Options) *Vault {
	if opt.WorkFactor <= 0 {
		opt.WorkFactor = DefaultWorkFactor
	}
	return &Vault{path: path, opt: opt, lock: make(chan struct{}, 1)}
}

// Path is the file's name.
func (v *Vault) Path() string { return v.path }

func (v *Vault) acquire(ctx context.Context) error {
	select {
	case v.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *Vault) release() { <-v.lock }

// Exists reports whether the file is there (so unlock knows to ask twice).
func (v *Vault) Exists() bool {
	_, err := os.Lstat(v.path)
	return err == nil
}

// Locked reports whether the secrets are out of reach until Unlock.
func (v *Vault) Locked() bool {
	v.lock <- struct{}{}
	defer v.release()
	return v.identity == nil
}

// Probe implements store.Prober.
func (v *Vault) Probe(context.Context) store.Health {
	if v.Locked() {
		if !v.Exists() {
			return store.Health{Reachable: true, Locked: true, Note: fmt.Sprintf("%s does not exist yet: dbx-cred unlock creates it", v.path)}
		}
		return store.Health{Reachable: true, Locked: true, Note: fmt.Sprintf("%s is locked: run dbx-cred unlock", v.path)}
	}
	return store.Health{Reachable: true, Note: fmt.Sprintf("%s, unlocked", v.path)}
}

// Unlock opens the file with passphrase, or creates it when create is set
// and there is none. A wrong passphrase or a damaged file changes nothing,
// in memory or on disk. Unlocking an unlocked Vault checks the passphrase
// all the same (it must open the file) and keeps the secrets in memory.
func (v *Vault) Unlock(ctx context.Context, passphrase string, create bool) error {
	raw, err := os.ReadFile(v.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !create {
			return fmt.Errorf("%w at %s: run dbx-cred unlock, which creates it", ErrNoFile, v.path)
		}
		return v.create(ctx, passphrase)
	case err != nil:
		return fmt.Errorf("read the file store %s: %w (check its permissions)", v.path, err)
	}
	id, wrapped, data, err := v.open(raw, passphrase)
	if err != nil {
		return err
	}
	if err := v.acquire(ctx); err != nil {
		return err
	}
	defer v.release()
	v.identity, v.wrapped, v.data, v.written = id, wrapped, data, sha256.Sum256(raw)
	return nil
}

func (v *Vault) create(ctx context.Context, passphrase string) error {
	if len(passphrase) < MinPassphrase {
		return fmt.Errorf("%w: a new file store needs at least %d characters (nothing was created): choose a longer one", ErrShortPassphrase, MinPassphrase)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return fmt.Errorf("make the file store's key: %w", err)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return fmt.Errorf("derive the file store's key: %w", err)
	}
	r.SetWorkFactor(v.opt.WorkFactor)
	wrapped, err := encrypt([]byte(id.String()), r)
	if err != nil {
		return fmt.Errorf("encrypt the file store's key: %w", err)
	}
	if err := v.acquire(ctx); err != nil {
		return err
	}
	defer v.release()
	if v.Exists() {
		return fmt.Errorf("the file store %s appeared while it was being created (another dbx-credd?): run dbx-cred unlock again", v.path)
	}
	if err := os.MkdirAll(filepath.Dir(v.path), 0o700); err != nil {
		return fmt.Errorf("create the directory of the file store: %w", err)
	}
	v.identity, v.wrapped, v.data = id, wrapped, map[string]map[string]string{}
	if err := v.writeLocked(true, false); err != nil {
		v.identity, v.wrapped, v.data = nil, "", nil
		return err
	}
	return nil
}

// Remove deletes the file and its previous version, and forgets the key
// and every secret: the end of a store migrate away from the file store,
// once the new store holds (and has read back) every secret the profiles
// use. Whatever else the file held (an orphan of an interrupted write) no
// profile can reach from the new store, so it goes too. It returns how
// many such items there were.
func (v *Vault) Remove(ctx context.Context) (int, error) {
	if err := v.acquire(ctx); err != nil {
		return 0, err
	}
	defer v.release()
	n := 0
	for _, ns := range v.data {
		n += len(ns)
	}
	for _, p := range []string{v.path, v.path + ".1"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("remove the old file store %s: %w (remove it by hand: every secret is in the new store)", p, err)
		}
	}
	atomicfile.SyncDir(filepath.Dir(v.path))
	v.identity, v.data, v.wrapped, v.written = nil, nil, "", [32]byte{}
	return n, nil
}

// Lock forgets the key and every secret. Go cannot promise that no copy is
// left in freed memory; the daemon refuses core dumps and ptrace (harden)
// for that reason.
func (v *Vault) Lock() {
	v.lock <- struct{}{}
	defer v.release()
	v.identity, v.data = nil, nil
}

type onDisk struct {
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Identity string `json:"identity"`
	Secrets  string `json:"secrets"`
}

type contents struct {
	Namespaces map[string]map[string]string `json:"namespaces"`
}

func (v *Vault) open(raw []byte, passphrase string) (*age.X25519Identity, string, map[string]map[string]string, error) {
	var f onDisk
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "not JSON: truncated or overwritten"}
	}
	if f.Format != formatName || f.Identity == "" || f.Secrets == "" {
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "not in dbx-cred's format"}
	}
	if f.Version > formatVersion {
		return nil, "", nil, fmt.Errorf("the file store %s is version %d, newer than this dbx-credd understands (%d): upgrade dbx-cred", v.path, f.Version, formatVersion)
	}
	sid, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w for the file store %s: nothing changed; run dbx-cred unlock again", ErrWrongPassphrase, v.path)
	}
	idText, err := decrypt(f.Identity, sid)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, "", nil, fmt.Errorf("%w for the file store %s: nothing changed; run dbx-cred unlock again", ErrWrongPassphrase, v.path)
	case err != nil:
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "its key part does not decrypt: " + err.Error()}
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(idText)))
	if err != nil {
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "its key part holds no age identity"}
	}
	body, err := decrypt(f.Secrets, id)
	if err != nil {
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "its secrets do not decrypt (tampered or truncated): " + err.Error()}
	}
	var c contents
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, "", nil, &DamagedError{Path: v.path, Reason: "its secrets are not in dbx-cred's format"}
	}
	if c.Namespaces == nil {
		c.Namespaces = map[string]map[string]string{}
	}
	return id, f.Identity, c.Namespaces, nil
}

func encrypt(plain []byte, r age.Recipient) (string, error) {
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(plain); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func decrypt(armored string, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

// writeLocked writes v.data as the new file: encrypted in memory, then a
// temporary file beside the target (0600, fsync), the current file kept
// as path.1, a rename, and a sync of the directory. It refuses to replace
// a file that changed since this Vault read or wrote it.
//
// removes says the write drops a secret the current file holds (a delete,
// or a value replaced). Then path.1 gets the new content instead of the
// current file, and first: a deleted secret (a logged-out refresh token,
// still valid in the workspace; a superseded one, whose reuse makes the
// workspace revoke the login) must not outlive its delete in the backup.
// Written before path, so a crash between the two leaves path still
// holding the secret (the delete did not happen) and path.1 a valid store.
func (v *Vault) writeLocked(fresh, removes bool) error {
	plain, err := json.Marshal(contents{Namespaces: v.data})
	if err != nil {
		return err
	}
	secrets, err := encrypt(plain, v.identity.Recipient())
	if err != nil {
		return fmt.Errorf("encrypt the file store: %w", err)
	}
	out, err := json.MarshalIndent(onDisk{Format: formatName, Version: formatVersion, Identity: v.wrapped, Secrets: secrets}, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if !fresh {
		cur, err := os.ReadFile(v.path)
		if err != nil {
			return fmt.Errorf("read the file store %s before replacing it: %w", v.path, err)
		}
		if sha256.Sum256(cur) != v.written {
			return fmt.Errorf("the file store %s changed on disk since dbx-credd read it (another dbx-credd, a restore, an edit): it is not overwritten. Fix: dbx-cred lock, then dbx-cred unlock to read it again", v.path)
		}
		prev := cur
		if removes {
			prev = out
		}
		if err := atomicfile.Write(v.path+".1", prev); err != nil {
			return fmt.Errorf("keep the previous file store as %s.1: %w", v.path, err)
		}
	}
	if err := atomicfile.Write(v.path, out); err != nil {
		return fmt.Errorf("write the file store %s: %w (check free space and permissions)", v.path, err)
	}
	v.written = sha256.Sum256(out)
	return nil
}

// Namespace is the Store of one namespace of the Vault.
func (v *Vault) Namespace(name string) *Store { return &Store{v: v, ns: name} }

// Store is one namespace of a Vault.
type Store struct {
	v  *Vault
	ns string
}

// Backend implements store.Store.
func (s *Store) Backend() string { return Name + " (" + s.v.path + ")" }

// Probe implements store.Prober.
func (s *Store) Probe(ctx context.Context) store.Health { return s.v.Probe(ctx) }

func (s *Store) unavailable(op, key string, err error) error {
	ue := &store.UnavailableError{Store: "the file store " + s.v.path, Op: op, Key: key, Err: err}
	if errors.Is(err, store.ErrLocked) {
		ue.Reason, ue.Fix = "it is locked", "dbx-cred unlock (once per daemon start; reads the passphrase from a hidden prompt or stdin)"
		if !s.v.Exists() {
			ue.Fix = "dbx-cred unlock creates the file store (it asks for a new passphrase twice)"
		}
	} else {
		ue.Reason, ue.Fix = err.Error(), "see the message; dbx-cred daemon status shows the store"
	}
	return ue
}

// enter takes the Vault's lock and checks it is unlocked.
func (s *Store) enter(ctx context.Context, op, key string) error {
	if err := s.v.acquire(ctx); err != nil {
		return err
	}
	if s.v.identity == nil {
		s.v.release()
		return s.unavailable(op, key, store.ErrLocked)
	}
	return nil
}

// CheckWrite implements store.WriteChecker: a locked store refuses every
// write, with the error Set would give.
func (s *Store) CheckWrite(ctx context.Context, key string) error {
	if err := s.enter(ctx, "write", key); err != nil {
		return err
	}
	s.v.release()
	return nil
}

// Get implements store.Store: from memory, never the disk.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	if err := s.enter(ctx, "read", key); err != nil {
		return "", err
	}
	defer s.v.release()
	v, ok := s.v.data[s.ns][key]
	if !ok {
		return "", fmt.Errorf("read %q: %w", key, store.ErrNotFound)
	}
	return v, nil
}

// Set implements store.Store: the file is rewritten before Set returns.
func (s *Store) Set(ctx context.Context, key, secret string) error {
	if err := s.enter(ctx, "write", key); err != nil {
		return err
	}
	defer s.v.release()
	if len(secret) > 1<<20 {
		return fmt.Errorf("write %q: %w (%d bytes)", key, store.ErrTooBig, len(secret))
	}
	ns := s.v.data[s.ns]
	old, had := ns[key]
	if ns == nil {
		ns = map[string]string{}
		s.v.data[s.ns] = ns
	}
	ns[key] = secret
	if err := s.v.writeLocked(false, had && old != secret); err != nil {
		if had {
			ns[key] = old
		} else {
			delete(ns, key)
		}
		return s.unavailable("write", key, err)
	}
	return nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.enter(ctx, "delete", key); err != nil {
		return err
	}
	defer s.v.release()
	ns := s.v.data[s.ns]
	old, had := ns[key]
	if !had {
		return fmt.Errorf("delete %q: %w", key, store.ErrNotFound)
	}
	delete(ns, key)
	if err := s.v.writeLocked(false, true); err != nil {
		ns[key] = old
		return s.unavailable("delete", key, err)
	}
	return nil
}

// List implements store.Lister.
func (s *Store) List(ctx context.Context) ([]string, error) {
	if err := s.enter(ctx, "list", ""); err != nil {
		return nil, err
	}
	defer s.v.release()
	out := make([]string, 0, len(s.v.data[s.ns]))
	for k := range s.v.data[s.ns] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
