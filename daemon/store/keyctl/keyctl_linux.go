//go:build linux

package keyctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// where names this backend in error messages.
const where = "the kernel keyring"

// perm: the possessor may view, read, write, search, link and set
// attributes; the user (any process of our uid) only view, so keyctl show
// and /proc/keys list the keys without their payloads; group and others
// nothing. dbx-credd possesses the ring because it links the persistent
// (or user) keyring into its process keyring (findLocked), which a
// restarted daemon does again. This keeps out a process of your uid that
// merely finds the key's id; one that links the persistent keyring itself
// (keyctl get_persistent @s) possesses it as the daemon does and reads
// it: the kernel keyring does not protect secrets from code running as
// you (README: "What protects the secret").
const perm = 0x3f010000

// Ring is dbx-cred's keyring: one per daemon (and per test), shared by
// every namespace Store of it.
type Ring struct {
	name string
	mu   sync.Mutex // guards the fields below
	id   int
	// persistent: the ring hangs under the persistent keyring (else the
	// user keyring).
	persistent bool
	// fresh: the ring did not exist when this daemon first looked, so
	// secrets the registry expects were cleared (a reboot, or expiry).
	fresh bool
	err   error
	// ops runs every keyctl call on one locked OS thread: Linux gives a
	// thread's credentials their own view of the process keyring, so a
	// call on another thread would not possess the keys (and be refused).
	ops chan func()
}

// Open finds or makes the keyring name (DefaultRing in the daemon). It
// never fails: a kernel without keyrings yields a Ring whose every call
// fails with the reason and the fix.
func Open(name string) *Ring {
	r := &Ring{name: name, ops: make(chan func())}
	started := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		r.mu.Lock()
		r.findLocked()
		r.mu.Unlock()
		close(started)
		for op := range r.ops {
			op()
		}
	}()
	<-started
	return r
}

// do runs fn on the Ring's thread, unless ctx ends first.
func (r *Ring) do(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case r.ops <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-done // keyctl calls do not block: no need to abandon one
	return nil
}

// findLocked (re)resolves the ring; mu is held.
func (r *Ring) findLocked() {
	if ok, why := Available(); !ok {
		r.err = errors.New(why)
		return
	}
	parent, err := unix.KeyctlInt(unix.KEYCTL_GET_PERSISTENT, -1, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0)
	r.persistent = err == nil
	if err != nil {
		// Kernels without CONFIG_PERSISTENT_KEYRINGS: the user keyring
		// lives as long as the user has processes (or a reboot).
		parent, err = unix.KeyctlGetKeyringID(unix.KEY_SPEC_USER_KEYRING, true)
		if err != nil {
			r.err = fmt.Errorf("reach the persistent or user keyring: %w", err)
			return
		}
		// Possession, as KEYCTL_GET_PERSISTENT gives: the keys grant
		// their payload to the possessor only (perm).
		if _, err := unix.KeyctlInt(unix.KEYCTL_LINK, parent, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0); err != nil {
			r.err = fmt.Errorf("link the user keyring into dbx-credd's process keyring: %w", err)
			return
		}
	}
	id, err := unix.KeyctlSearch(parent, "keyring", r.name, 0)
	if err != nil {
		id, err = unix.AddKey("keyring", r.name, nil, parent)
		if err != nil {
			r.err = quotaOr(fmt.Errorf("create the keyring %q: %w", r.name, err), err)
			return
		}
		r.fresh = true
	}
	// Also for a ring made by an older dbx-credd (user rights too).
	_ = unix.KeyctlSetperm(id, perm)
	r.id, r.err = id, nil
}

// Remove unlinks the ring and everything in it (tests, at the end).
func (r *Ring) Remove() error {
	var err error
	r.do(context.Background(), func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if err = r.err; err == nil {
			_, err = unix.KeyctlInt(unix.KEYCTL_INVALIDATE, r.id, 0, 0, 0)
		}
	})
	return err
}

// ID is the ring's key serial, for tests that look with keyctl(1).
func (r *Ring) ID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}

func (r *Ring) ring() (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		// The ring may have expired (persistent keyring unused for days)
		// or been removed since: check it is still there.
		if _, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, r.id); err != nil {
			r.findLocked()
			r.fresh = true
		}
	}
	return r.id, r.fresh, r.err
}

// Probe implements store.Prober.
func (r *Ring) Probe(ctx context.Context) store.Health {
	var err error
	if derr := r.do(ctx, func() { _, _, err = r.ring() }); derr != nil {
		return store.Health{Note: derr.Error()}
	}
	if err != nil {
		return store.Health{Note: err.Error() + ": choose another store (dbx-credd run --store file)"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	life := "the user keyring: kept while you have processes"
	if r.persistent {
		life = "the persistent keyring: kept across daemon restarts and logout"
		if b, err := os.ReadFile("/proc/sys/kernel/keys/persistent_keyring_expiry"); err == nil {
			life += ", for " + strings.TrimSpace(string(b)) + " s unused"
		}
	}
	return store.Health{Reachable: true, Note: life + "; cleared at every reboot (then dbx-cred login again)"}
}

// Namespace is the Store of keys described "ns:key" in the ring.
func (r *Ring) Namespace(ns string) *Store { return &Store{r: r, ns: ns} }

// Store is one namespace of a Ring.
type Store struct {
	r  *Ring
	ns string
}

// Backend implements store.Store.
func (s *Store) Backend() string { return Name + " (kernel keyring " + s.r.name + ")" }

// Probe implements store.Prober.
func (s *Store) Probe(ctx context.Context) store.Health { return s.r.Probe(ctx) }

func (s *Store) desc(key string) string { return s.ns + ":" + key }

func (s *Store) unavailable(op, key string, err error) error {
	fix := "choose another store: dbx-credd run --store file (or os)"
	if errors.Is(err, unix.EDQUOT) {
		fix = "log out of profiles you no longer use (dbx-cred logout -p NAME), or raise /proc/sys/kernel/keys/maxbytes and maxkeys"
	}
	return &store.UnavailableError{Store: where, Op: op, Key: key, Reason: err.Error(), Fix: fix, Err: err}
}

func quotaOr(wrapped, err error) error {
	if errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%s is full: %w", quotaNote(), err)
	}
	return wrapped
}

func (s *Store) find(ring int, key string) (int, error) {
	id, err := unix.KeyctlSearch(ring, "user", s.desc(key), 0)
	if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYREVOKED) || errors.Is(err, unix.EKEYEXPIRED) {
		return 0, store.ErrNotFound
	}
	return id, err
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, key string) (string, error) {
	var v string
	var err error
	if derr := s.r.do(ctx, func() { v, err = s.getOn(ctx, key) }); derr != nil {
		return v, derr
	}
	return v, err
}

// getOn runs on the Ring's thread.
func (s *Store) getOn(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ring, fresh, err := s.r.ring()
	if err != nil {
		return "", s.unavailable("read", key, err)
	}
	id, err := s.find(ring, key)
	if errors.Is(err, store.ErrNotFound) {
		if fresh {
			return "", fmt.Errorf("read %q: %w: %w", key, store.ErrNotFound, store.ErrCleared)
		}
		return "", fmt.Errorf("read %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return "", s.unavailable("read", key, err)
	}
	// A key an older dbx-credd wrote let every process of the uid read it.
	_ = unix.KeyctlSetperm(id, perm)
	buf := make([]byte, 1024)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil {
			if errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EKEYREVOKED) {
				return "", fmt.Errorf("read %q: %w", key, store.ErrNotFound)
			}
			return "", s.unavailable("read", key, err)
		}
		if n <= len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, n)
	}
}

// Set implements store.Store.
func (s *Store) Set(ctx context.Context, key, secret string) error {
	var err error
	if derr := s.r.do(ctx, func() { err = s.setOn(ctx, key, secret) }); derr != nil {
		return derr
	}
	return err
}

// setOn runs on the Ring's thread.
// add_key replaces a key of the same description in place, atomically.
func (s *Store) setOn(ctx context.Context, key, secret string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ring, _, err := s.r.ring()
	if err != nil {
		return s.unavailable("write", key, err)
	}
	if len(secret) > 32767 {
		return fmt.Errorf("write %q: %w (a kernel key holds at most 32767 bytes)", key, store.ErrTooBig)
	}
	id, err := unix.AddKey("user", s.desc(key), []byte(secret), ring)
	if err != nil {
		return s.unavailable("write", key, quotaOr(err, err))
	}
	_ = unix.KeyctlSetperm(id, perm)
	return nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	var err error
	if derr := s.r.do(ctx, func() { err = s.deleteOn(ctx, key) }); derr != nil {
		return derr
	}
	return err
}

// deleteOn runs on the Ring's thread.
func (s *Store) deleteOn(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ring, _, err := s.r.ring()
	if err != nil {
		return s.unavailable("delete", key, err)
	}
	id, err := s.find(ring, key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return s.unavailable("delete", key, err)
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
		return s.unavailable("delete", key, err)
	}
	// Invalidate too, so no other link keeps the secret readable.
	_, _ = unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
	return nil
}

// List implements store.Lister.
func (s *Store) List(ctx context.Context) ([]string, error) {
	var v []string
	var err error
	if derr := s.r.do(ctx, func() { v, err = s.listOn(ctx) }); derr != nil {
		return v, derr
	}
	return v, err
}

// listOn runs on the Ring's thread.
func (s *Store) listOn(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ring, _, err := s.r.ring()
	if err != nil {
		return nil, s.unavailable("list", "", err)
	}
	buf := make([]byte, 4096)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, ring, buf, 0)
	if err == nil && n > len(buf) {
		buf = make([]byte, n)
		n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, ring, buf, 0)
	}
	if err != nil {
		return nil, s.unavailable("list", "", err)
	}
	prefix := s.ns + ":"
	var out []string
	for i := 0; i+4 <= n && i+4 <= len(buf); i += 4 {
		id := int(int32(uint32(buf[i]) | uint32(buf[i+1])<<8 | uint32(buf[i+2])<<16 | uint32(buf[i+3])<<24))
		d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		if err != nil {
			continue // gone in between
		}
		// "type;uid;gid;perm;description"
		parts := strings.SplitN(d, ";", 5)
		if len(parts) == 5 && parts[0] == "user" && strings.HasPrefix(parts[4], prefix) {
			out = append(out, strings.TrimPrefix(parts[4], prefix))
		}
	}
	sort.Strings(out)
	return out, nil
}
