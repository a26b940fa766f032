//go:build linux

package keyctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/storetest"
)

// requireKeys skips with a visible notice where the kernel has no keyrings.
func requireKeys(t *testing.T) {
	t.Helper()
	if ok, why := Available(); !ok {
		t.Skip("NOTICE: the kernel keyring store is not tested here: " + why)
	}
}

// testRing is a keyring of this test's own under the persistent one,
// removed at the end: the kernel keyring is shared by the whole uid.
func testRing(t *testing.T) *Ring {
	b := make([]byte, 6)
	rand.Read(b)
	r := Open("dbx-cred-test-" + hex.EncodeToString(b))
	if r.err != nil {
		t.Fatalf("open a test keyring: %v", r.err)
	}
	t.Cleanup(func() {
		r.mu.Lock()
		r.err = nil
		r.mu.Unlock()
		_ = r.Remove()
	})
	return r
}

func TestConformance(t *testing.T) {
	requireKeys(t)
	storetest.Run(t, storetest.Suite{
		Open: func(t *testing.T) store.Store { return testRing(t).Namespace("dbx-cred") },
		Broken: func(t *testing.T) store.Store {
			// A ring removed under the daemon (expired, or keyctl purged
			// it) that cannot be made again: simulated by the error a
			// kernel without keyrings gives.
			r := testRing(t)
			r.mu.Lock()
			r.err = errors.New("this kernel shows no /proc/keys")
			r.mu.Unlock()
			return r.Namespace("dbx-cred")
		},
	})
}

func TestClearedAfterReboot(t *testing.T) {
	requireKeys(t)
	ctx := context.Background()
	r := testRing(t)
	st := r.Namespace("dbx-cred")
	if err := st.Set(ctx, "prod", "v"); err != nil {
		t.Fatal(err)
	}
	// A daemon restart finds the ring: no key is "cleared".
	r2 := Open(r.name)
	if r2.fresh {
		t.Fatal("a ring that exists was taken for a fresh one")
	}
	if _, err := r2.Namespace("dbx-cred").Get(ctx, "gone"); errors.Is(err, store.ErrCleared) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing key in a kept ring = %v, want plain not found", err)
	}
	// A reboot: the ring is gone, the next daemon makes a new one.
	r.Remove()
	r3 := Open(r.name)
	t.Cleanup(func() { r3.Remove() })
	if _, err := r3.Namespace("dbx-cred").Get(ctx, "prod"); !errors.Is(err, store.ErrCleared) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the ring was cleared: %v, want ErrNotFound and ErrCleared", err)
	}
}

func TestNamespacesAreSeparate(t *testing.T) {
	requireKeys(t)
	ctx := context.Background()
	r := testRing(t)
	r.Namespace("a").Set(ctx, "k", "1")
	if _, err := r.Namespace("b").Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("namespace b sees a's key: %v", err)
	}
}
