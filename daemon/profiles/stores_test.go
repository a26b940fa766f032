package profiles

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// lockable is a memory store that can be locked like the file store.
type lockable struct {
	*store.Memory
	locked bool
}

func (l *lockable) Get(ctx context.Context, k string) (string, error) {
	if l.locked {
		return "", &store.UnavailableError{Op: "read", Key: k, Reason: "locked", Fix: "dbx-cred unlock", Err: store.ErrLocked}
	}
	return l.Memory.Get(ctx, k)
}

func TestUnloadForgetsEverySecret(t *testing.T) {
	ctx := context.Background()
	st := &lockable{Memory: store.NewMemory()}
	m, _ := newManager(t, st)
	m.SetStore("file")
	if _, _, err := m.Login(ctx, "prod", "https://ws.example.com", "dapi-good", static); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "prod"}); err != nil {
		t.Fatal(err)
	}
	st.locked = true
	if n := m.Unload(ctx); n != 1 {
		t.Fatalf("Unload = %d, want 1 loaded profile", n)
	}
	m.mu.RLock()
	o := m.owners["prod"]
	m.mu.RUnlock()
	if o.rootValue() != "" || o.loaded {
		t.Fatal("the new owner holds a secret")
	}
	_, err := m.Token(ctx, TokenRequest{Profile: "prod"})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "locked: run dbx-cred unlock") {
		t.Fatalf("Token after Unload = %v, want the locked error", err)
	}
	st.locked = false
	m.StoreBack(ctx)
	if tok, err := m.Token(ctx, TokenRequest{Profile: "prod"}); err != nil || tok.Value != "dapi-good" {
		t.Fatalf("Token after unlock = %v, %v", tok.Value, err)
	}
	if got := registry.StoreOf(o.snapshot()); got != "file" {
		t.Fatalf("the registry records store %q, want file", got)
	}
}

func TestMigrateCopiesReadsBackThenDeletes(t *testing.T) {
	ctx := context.Background()
	old := store.NewMemory()
	m, path := newManager(t, old)
	m.SetStore("os")
	for _, p := range []string{"a", "b"} {
		if _, _, err := m.Login(ctx, p, "https://ws.example.com", "dapi-good", static); err != nil {
			t.Fatal(err)
		}
	}
	old.Set(ctx, "[metadata]a", "url-secret")
	dst := store.NewMemory()
	var switched bool
	res, err := m.Migrate(ctx, MigrateOptions{
		To: "file", From: Namespaces{Main: old, Derived: store.NewMemory()}, Dst: Namespaces{Main: dst, Derived: store.NewMemory()},
		MainKeys: func(p string) []string { return []string{"[metadata]" + p} },
		Switch: func() {
			switched = true
			// At the switch the registry already names the new store and
			// both stores hold every secret.
			d, _ := registry.Load(path)
			for _, p := range d.Profiles {
				if p.Store != "file" {
					t.Errorf("at the switch, profile %s records %q", p.Name, p.Store)
				}
			}
			if len(old.Keys()) != 3 || len(dst.Keys()) != 3 {
				t.Errorf("at the switch: old %q, new %q", old.Keys(), dst.Keys())
			}
		},
	})
	if err != nil || !switched || !slices.Equal(res.Moved, []string{"a", "b"}) {
		t.Fatalf("Migrate = %+v, %v (switched %v)", res, err, switched)
	}
	if len(old.Keys()) != 0 {
		t.Fatalf("the old store still holds %q", old.Keys())
	}
	if got, _ := dst.Get(ctx, "[metadata]a"); got != "url-secret" {
		t.Fatal("the metadata URL secret did not move")
	}
}

// failing refuses every write: a migration to it changes nothing.
type failing struct{ *store.Memory }

func (failing) Set(context.Context, string, string) error {
	return &store.UnavailableError{Op: "write", Reason: "full", Fix: "free some", Err: errors.New("full")}
}

func TestMigrateFailureChangesNothing(t *testing.T) {
	ctx := context.Background()
	old := store.NewMemory()
	m, path := newManager(t, old)
	m.SetStore("os")
	m.Login(ctx, "a", "https://ws.example.com", "dapi-good", static)
	_, err := m.Migrate(ctx, MigrateOptions{To: "keyctl", From: Namespaces{Main: old, Derived: store.NewMemory()},
		Dst: Namespaces{Main: failing{store.NewMemory()}, Derived: store.NewMemory()}, Switch: func() { t.Error("switched after a failed copy") }})
	if err == nil || !strings.Contains(err.Error(), "nothing was switched or deleted") {
		t.Fatalf("Migrate to a failing store = %v", err)
	}
	d, _ := registry.Load(path)
	if registry.StoreOf(d.Profiles[0]) != "os" || len(old.Keys()) != 1 {
		t.Fatal("a failed migration changed the registry or the old store")
	}
}
