package profiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

type keptRig struct {
	secrets, derived *store.Memory
	path             string
	ws               *workspace.Client
}

func newKeptRig(t *testing.T) *keptRig {
	return &keptRig{secrets: store.NewMemory(), derived: store.NewMemory(), path: filepath.Join(t.TempDir(), "profiles.json"), ws: workspace.New(10 * time.Second)}
}

func (r *keptRig) manager(t *testing.T) *Manager {
	m, err := New(r.path, r.secrets, r.ws, Rotation{Tokens: r.ws.Tokens, Derived: r.derived}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Kept tokens are deleted at logout and bound to what minted them: a later
// login of the same name to another workspace as another user is never
// served the first user's token.
func TestKeptTokensDieWithTheirLogin(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	m := r.manager(t)
	emuA, hostA, patA := workspaceWith(t, "alice@example.com")
	emuB, hostB, patB := workspaceWith(t, "bob@example.com")
	opt := LoginOptions{Lifetime: 10 * time.Minute} // long enough to be kept
	if _, _, err := m.Login(ctx, "prod", hostA, patA, opt); err != nil {
		t.Fatal(err)
	}
	for _, scopes := range [][]string{nil, {"sql"}} {
		if _, err := m.Token(ctx, TokenRequest{Profile: "prod", Scopes: scopes}); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.derived.Keys()) != 2 {
		t.Fatalf("kept tokens: %q; want one unscoped and one scoped", r.derived.Keys())
	}
	if _, err := m.Logout(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if k := r.derived.Keys(); len(k) != 0 {
		t.Fatalf("kept tokens survived logout: %q", k)
	}
	if n := live(emuA, "alice@example.com"); n != 0 {
		t.Fatalf("%d dbx-cred tokens of alice alive after logout", n)
	}
	if _, _, err := m.Login(ctx, "prod", hostB, patB, opt); err != nil {
		t.Fatal(err)
	}
	for _, scopes := range [][]string{nil, {"sql"}} {
		tok, err := m.Token(ctx, TokenRequest{Profile: "prod", Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		if u, ok := emuB.Authenticate(tok.Value); !ok || u != "bob@example.com" {
			t.Fatalf("scopes %v: served a token that is not bob's in workspace B", scopes)
		}
	}
}

// After a restart, a kept scoped token is neither revoked by the start-up
// clean-up nor served once revoked.
func TestKeptScopedTokenSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	emu, host, pat := workspaceWith(t, "alice@example.com")
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", host, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	first, err := m.Token(ctx, TokenRequest{Profile: "prod", Scopes: []string{"sql"}})
	if err != nil {
		t.Fatal(err)
	}
	// A restarted daemon: its start-up pass runs before any request.
	m2 := r.manager(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m2.Run(runCtx, time.Hour); close(done) }()
	defer func() { stop(); <-done }()
	time.Sleep(300 * time.Millisecond)
	tok, err := m2.Token(ctx, TokenRequest{Profile: "prod", Scopes: []string{"sql"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := emu.Authenticate(tok.Value); !ok {
		t.Fatal("served a kept scoped token that the start-up clean-up revoked")
	}
	if tok.Value != first.Value {
		t.Fatal("the kept scoped token was not reused after the restart")
	}
}

// Any number of distinct scope sets leaves a bounded number of live tokens,
// and the unscoped token still renews.
func TestScopesCannotExhaustTheQuota(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	emu, host, pat := workspaceWith(t, "alice@example.com", wsemu.WithQuota(60))
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", host, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := m.Token(ctx, TokenRequest{Profile: "prod", Scopes: []string{fmt.Sprintf("s%d", i)}}); err != nil {
			t.Fatalf("scope set %d: %v", i, err)
		}
	}
	// Retired sources' tokens live on for their clients (at most 30 s)
	// unless the quota is short: hurry them, as a quota answer would.
	o, _ := m.lookup("prod")
	o.expedite()
	o.bg.Wait()
	if n := live(emu, "alice@example.com"); n > MaxScopedSources+2 {
		t.Fatalf("%d live tokens after 200 scope sets; at most %d", n, MaxScopedSources+2)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "prod", ForceRefresh: true}); err != nil {
		t.Fatalf("the unscoped token was starved: %v", err)
	}
}

// QUOTA_EXCEEDED is a quota problem, not "the workspace refused these scopes".
func TestQuotaIsReportedAsQuota(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	emu, host, pat := workspaceWith(t, "alice@example.com", wsemu.WithQuota(3))
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", host, pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	emu.CreatePAT("alice@example.com", "someone else's", time.Hour, nil) // fills the quota
	_, err := m.Token(ctx, TokenRequest{Profile: "prod", Scopes: []string{"sql"}})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "revoke unused tokens") {
		t.Fatalf("err = %v; want ErrQuota naming the fix", err)
	}
}

// After rotate and logout the workspace lists no token dbx-cred created.
func TestLogoutAfterRotateLeavesNothingAlive(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	emu, host, pat := workspaceWith(t, "alice@example.com")
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "good", host, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	m.Token(ctx, TokenRequest{Profile: "good", Scopes: []string{"sql"}})
	if _, err := m.Rotate(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	m.Token(ctx, TokenRequest{Profile: "good"})
	res, err := m.Logout(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	if n := live(emu, "alice@example.com"); n != 0 {
		t.Fatalf("%d dbx-cred tokens alive after rotate and logout: %+v", n, emu.LiveTokens("alice@example.com"))
	}
	said := strings.Join(res.Revoked, "\n")
	if !strings.Contains(said, "created by dbx-cred rotate") || !strings.Contains(said, "short-lived token") {
		t.Fatalf("logout did not say what it revoked: %+v", res)
	}
	if strings.Contains(res.Advice, "pasted") {
		t.Fatalf("advice about a pasted root after rotate replaced it: %q", res.Advice)
	}
}
