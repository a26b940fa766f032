package file

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/storetest"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// testWork keeps scrypt cheap in tests; the format is the same.
const testWork = 10

const pass = "correct horse battery"

func newUnlocked(t *testing.T) (*Vault, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dbx-cred", "secrets.age")
	v := New(path, Options{WorkFactor: testWork})
	if err := v.Unlock(context.Background(), pass, true); err != nil {
		t.Fatal(err)
	}
	return v, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Suite{
		Open: func(t *testing.T) store.Store { v, _ := newUnlocked(t); return v.Namespace("dbx-cred") },
		Broken: func(t *testing.T) store.Store {
			// A damaged file: unlock fails, so the store stays locked.
			path := filepath.Join(t.TempDir(), "secrets.age")
			os.WriteFile(path, []byte(`{"format":"dbx-cred-store","vers`), 0o600)
			v := New(path, Options{WorkFactor: testWork})
			var de *DamagedError
			if err := v.Unlock(context.Background(), pass, false); !errors.As(err, &de) {
				t.Fatalf("Unlock of a truncated file = %v, want a DamagedError", err)
			}
			return v.Namespace("dbx-cred")
		},
	})
}

// scan fails if any file under dir holds secret in clear.
func scan(t *testing.T, dir, secret string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret in clear", p)
			}
		}
		return nil
	})
}

func TestFileOnDisk(t *testing.T) {
	ctx := context.Background()
	v, path := newUnlocked(t)
	st := v.Namespace("dbx-cred")
	const secret = "dapiSECRETVALUE0123456789"
	if err := st.Set(ctx, "prod", secret); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "dev", secret+"-2"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no previous version kept: %v", err)
	}
	scan(t, filepath.Dir(path), secret)
	scan(t, filepath.Dir(path), pass)
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".secrets-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}

	// A second daemon (a new Vault) reads it back with the passphrase.
	v2 := New(path, Options{WorkFactor: testWork})
	if _, err := v2.Namespace("dbx-cred").Get(ctx, "prod"); !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "locked: run dbx-cred unlock") {
		t.Fatalf("Get before unlock = %v, want locked", err)
	}
	if err := v2.Unlock(ctx, pass, false); err != nil {
		t.Fatal(err)
	}
	if got, err := v2.Namespace("dbx-cred").Get(ctx, "prod"); err != nil || got != secret {
		t.Fatalf("after unlock: %q, %v", got, err)
	}
	// Namespaces are separate.
	if _, err := v2.Namespace("dbx-cred-derived").Get(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another namespace sees the key: %v", err)
	}
	v2.Lock()
	if _, err := v2.Namespace("dbx-cred").Get(ctx, "prod"); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Get after Lock = %v", err)
	}
}

func TestWrongPassphraseChangesNothing(t *testing.T) {
	ctx := context.Background()
	v, path := newUnlocked(t)
	if err := v.Namespace("n").Set(ctx, "k", "value"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	v2 := New(path, Options{WorkFactor: testWork})
	err := v2.Unlock(ctx, "not the passphrase", false)
	if !errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Unlock with a wrong passphrase = %v", err)
	}
	// Even with create set: the file exists, so it is never replaced.
	if err := v2.Unlock(ctx, "not the passphrase", true); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Unlock(create) with a wrong passphrase = %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) || !v2.Locked() {
		t.Fatal("a wrong passphrase changed the file or unlocked the store")
	}
}

func TestDamagedFileIsNeverOverwritten(t *testing.T) {
	ctx := context.Background()
	for name, damage := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"tampered": func(b []byte) []byte {
			// Flip a byte inside the secrets' armour body.
			i := bytes.LastIndex(b, []byte("-----END")) - 20
			c := append([]byte(nil), b...)
			if c[i] == 'A' {
				c[i] = 'B'
			} else {
				c[i] = 'A'
			}
			return c
		},
		"wrong format": func([]byte) []byte { return []byte(`{"hello": "world"}`) },
	} {
		t.Run(name, func(t *testing.T) {
			v, path := newUnlocked(t)
			st := v.Namespace("n")
			st.Set(ctx, "k", "one")
			// An added secret, not a replaced one: a replaced value is not
			// kept in the previous version (TestRemovedSecretLeavesNoBackup).
			st.Set(ctx, "k2", "two")
			good, _ := os.ReadFile(path)
			bad := damage(good)
			os.WriteFile(path, bad, 0o600)

			v2 := New(path, Options{WorkFactor: testWork})
			err := v2.Unlock(ctx, pass, true)
			var de *DamagedError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), path+".1") {
				t.Fatalf("Unlock of a %s file = %v, want a DamagedError naming the file and its .1", name, err)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
				t.Fatal("the damaged file was changed")
			}
			// The running Vault refuses to write over it too.
			if err := st.Set(ctx, "k", "three"); err == nil || !strings.Contains(err.Error(), "not overwritten") {
				t.Fatalf("Set over a file changed on disk = %v", err)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
				t.Fatal("the damaged file was overwritten by a write")
			}
			// The previous version opens.
			os.Rename(path+".1", path)
			v3 := New(path, Options{WorkFactor: testWork})
			if err := v3.Unlock(ctx, pass, false); err != nil {
				t.Fatal(err)
			}
			if got, _ := v3.Namespace("n").Get(ctx, "k"); got != "one" {
				t.Fatalf("previous version holds %q, want one", got)
			}
			if _, err := v3.Namespace("n").Get(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("previous version holds the later write: %v", err)
			}
		})
	}
}

func TestCreateNeedsALongPassphrase(t *testing.T) {
	v := New(filepath.Join(t.TempDir(), "s.age"), Options{WorkFactor: testWork})
	if err := v.Unlock(context.Background(), "short", true); err == nil || v.Exists() {
		t.Fatalf("a 5-character passphrase made a store: %v", err)
	}
	if err := v.Unlock(context.Background(), pass, false); !errors.Is(err, ErrNoFile) {
		t.Fatalf("Unlock without create of a missing file = %v", err)
	}
}

// holds reports whether the store file at path, decrypted with the
// passphrase, holds secret anywhere.
func holds(t *testing.T, path, secret string) bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	_, _, data, err := New(path, Options{}).open(raw, pass)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	for _, ns := range data {
		for _, v := range ns {
			if strings.Contains(v, secret) {
				return true
			}
		}
	}
	return false
}

// A deleted or replaced secret is in neither the file nor its previous
// version: a logged-out refresh token is still valid in the workspace, and
// a superseded one revokes the login when presented.
func TestRemovedSecretLeavesNoBackup(t *testing.T) {
	ctx := context.Background()
	v, path := newUnlocked(t)
	st := v.Namespace("dbx-cred")
	const gone, replaced, kept = "refresh-token-LOGGED-OUT", "refresh-token-SUPERSEDED", "refresh-token-KEPT"
	for k, val := range map[string]string{"prod": gone, "dev": replaced, "ci": kept} {
		if err := st.Set(ctx, k, val); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, "dev", "refresh-token-NEW"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + ".1"} {
		for _, s := range []string{gone, replaced} {
			if holds(t, p, s) {
				t.Errorf("%s still holds %s after it was removed", filepath.Base(p), s)
			}
		}
		if !holds(t, p, kept) {
			t.Errorf("%s lost a secret nobody removed", filepath.Base(p))
		}
	}
	// A write that removes nothing keeps the previous version as it was.
	before, _ := os.ReadFile(path)
	if err := st.Set(ctx, "new", "another"); err != nil {
		t.Fatal(err)
	}
	if prev, _ := os.ReadFile(path + ".1"); !bytes.Equal(prev, before) {
		t.Error("an added secret did not keep the previous version as .1")
	}
}

func TestRemoveDeletesBothFiles(t *testing.T) {
	ctx := context.Background()
	v, path := newUnlocked(t)
	st := v.Namespace("dbx-cred")
	st.Set(ctx, "a", "1")
	st.Set(ctx, "b", "2")
	n, err := v.Remove(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v; want 2 items, nil", n, err)
	}
	for _, p := range []string{path, path + ".1"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
	if _, err := st.Get(ctx, "a"); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Get after Remove = %v, want locked", err)
	}
}

// CheckWrite answers as Set would, without writing: an import asks it
// before it spends another tool's refresh token.
func TestCheckWriteSaysLocked(t *testing.T) {
	ctx := context.Background()
	v, path := newUnlocked(t)
	st := v.Namespace("dbx-cred")
	if err := store.CheckWrite(ctx, store.NewSwitch(st), "prod"); err != nil {
		t.Fatalf("unlocked: %v", err)
	}
	before, _ := os.ReadFile(path)
	v.Lock()
	err := store.CheckWrite(ctx, store.NewSwitch(st), "prod")
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "dbx-cred unlock") {
		t.Fatalf("locked: %v, want ErrLocked naming dbx-cred unlock", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("CheckWrite wrote the file")
	}
}

// A new store's passphrase that is too short says so: it is not "wrong".
func TestShortNewPassphraseSaysTooShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.age")
	v := New(path, Options{WorkFactor: testWork})
	err := v.Unlock(context.Background(), "short", true)
	if !errors.Is(err, ErrShortPassphrase) || errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "at least 8 characters") {
		t.Fatalf("Unlock(create) with a short passphrase = %v", err)
	}
	if errkind.Of(err) != errkind.BadInput {
		t.Errorf("kind %v, want bad input", errkind.Of(err))
	}
	if _, serr := os.Stat(path); serr == nil {
		t.Error("a file was created")
	}
}
