package metadata

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// Two installations of one uid share its keyrings. Each "prod" has its own
// URL secret, and a logout in one leaves the other's.
func TestInstallationsSharingAStoreKeepTheirOwnURLs(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	names := func() []string { return []string{"prod"} }
	a := NewPaths(st, "aaaa", names, slog.New(slog.DiscardHandler))
	b := NewPaths(st, "bbbb", names, slog.New(slog.DiscardHandler))
	sa, err := a.Secret(ctx, "prod", false)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Secret(ctx, "prod", false)
	if err != nil {
		t.Fatal(err)
	}
	if sa == sb {
		t.Fatal("two installations share one URL for prod")
	}
	if err := a.Forget(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	b2 := NewPaths(st, "bbbb", names, slog.New(slog.DiscardHandler)) // b after a restart
	if got, err := b2.Secret(ctx, "prod", false); err != nil || got != sb {
		t.Fatalf("b's URL after a's logout: %q, %v; want %q", got, err, sb)
	}
}

// A URL stored by an older dbx-cred under the bare profile name is kept
// (the same URL, as .databrickscfg files hold it) and moved to the
// installation's key.
func TestLegacyURLIsMovedNotLost(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	if err := st.Set(ctx, LegacyKey("prod"), "old-secret"); err != nil {
		t.Fatal(err)
	}
	p := NewPaths(st, "aaaa", func() []string { return []string{"prod"} }, slog.New(slog.DiscardHandler))
	if name, ok := p.Lookup(ctx, "old-secret"); !ok || name != "prod" {
		t.Fatalf("the legacy URL no longer matches: %q %v", name, ok)
	}
	if got, _ := st.Get(ctx, Key("aaaa", "prod")); got != "old-secret" {
		t.Fatalf("not moved to the installation's key: %q", got)
	}
	if _, err := st.Get(ctx, LegacyKey("prod")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the legacy item stayed: %v", err)
	}
}
