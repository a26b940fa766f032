package profiles

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// Forced refreshes as often as allowed keep at most 2 live tokens per source.
func TestForcedRefreshesKeepAtMostTwoLive(t *testing.T) {
	ctx := context.Background()
	clk := tokensource.Scaled{Start: time.Now(), Speed: 10}
	emu := wsemu.New(wsemu.WithClock(clk.Now))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	pat := emu.AddUser("a@x")
	ws := workspace.New(10 * time.Second)
	m, _ := New(filepath.Join(t.TempDir(), "p.json"), store.NewMemory(), ws, Rotation{Tokens: ws.Tokens, Clock: clk}, quietLog())
	if _, _, err := m.Login(ctx, "p", srv.URL, pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	maxLive := 0
	for i := 0; i < 6; i++ {
		time.Sleep(1100 * time.Millisecond) // 11 s scaled
		if _, err := m.Token(ctx, TokenRequest{Profile: "p", ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if n := live(emu, "a@x"); n > maxLive {
			maxLive = n
		}
	}
	t.Logf("max live derived tokens for the one unscoped source: %d", maxLive)
	if maxLive > 2 {
		t.Errorf("invariant broken: %d live derived tokens for one source", maxLive)
	}
}

// failingSet fails Set once armed.
type failingSet struct {
	*store.Memory
	fail atomic.Bool
}

func (f *failingSet) Set(ctx context.Context, k, v string) error {
	if f.fail.Load() {
		return errors.New("keyring locked")
	}
	return f.Memory.Set(ctx, k, v)
}

// A kept token an earlier daemon revoked (its successor could not be kept)
// is not served by the next daemon.
func TestRestartNeverServesARevokedKeptToken(t *testing.T) {
	ctx := context.Background()
	clk := tokensource.Scaled{Start: time.Now(), Speed: 100}
	emu := wsemu.New(wsemu.WithClock(clk.Now))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	pat := emu.AddUser("a@x")
	ws := workspace.New(10 * time.Second)
	secrets := store.NewMemory()
	derived := &failingSet{Memory: store.NewMemory()}
	path := filepath.Join(t.TempDir(), "p.json")
	mk := func() *Manager {
		m, _ := New(path, secrets, ws, Rotation{Tokens: ws.Tokens, Derived: derived, Clock: clk}, quietLog())
		return m
	}
	m := mk()
	if _, _, err := m.Login(ctx, "p", srv.URL, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	t1, _ := m.Token(ctx, TokenRequest{Profile: "p"})
	derived.fail.Store(true)
	time.Sleep(350 * time.Millisecond) // 35 s scaled > refreshMinAge
	t2, _ := m.Token(ctx, TokenRequest{Profile: "p", ForceRefresh: true})
	if t1.Value == t2.Value {
		t.Fatal("no refresh")
	}
	// t1 lives until the expiry its clients were told, then is revoked.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, ok := emu.Authenticate(t1.Value); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the superseded token was never revoked")
		}
	}
	derived.fail.Store(false)
	// daemon restart (the old one simply stops)
	m2 := mk()
	t3, err := m2.Token(ctx, TokenRequest{Profile: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if t3.Value == t1.Value {
		t.Errorf("restarted daemon served the token the previous daemon revoked (valid in workspace: %v)", func() bool { _, ok := emu.Authenticate(t3.Value); return ok }())
	}
}

// Re-login of a profile not loaded since the restart revokes the old login's
// kept tokens and the root its rotate made.
func TestReloginRevokesWhatTheOldLoginMade(t *testing.T) {
	ctx := context.Background()
	r := newKeptRig(t)
	emu, host, pat := workspaceWith(t, "a@x")
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "p", host, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "p", Scopes: []string{"sql"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "p"}); err != nil {
		t.Fatal(err)
	}
	// daemon restart; nothing loads the profile before the re-login
	m2 := r.manager(t)
	pat2, _ := emu.CreatePAT("a@x", "second pat", 0, nil)
	if _, _, err := m2.Login(ctx, "p", host, pat2, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	o := m2.owners["p"]
	newComment := m2.env.comment(o.snapshot())
	for _, ti := range emu.LiveTokens("a@x") {
		if strings.HasPrefix(ti.Comment, "dbx-cred") && ti.Comment != newComment {
			t.Errorf("alive after re-login: %s %q", ti.TokenID, ti.Comment)
		}
	}
}

// logout -p NAME while a timed-out write is still in flight keeps tracking
// it, so the late write leaves no untracked store item.
func TestLogoutWhileAWriteIsInFlightTracksIt(t *testing.T) {
	ctx := context.Background()
	r := newLateRig(t)
	m := r.newMgr()
	r.st.late.Store(true)
	if _, _, err := m.Login(ctx, "prod", r.srv.URL, r.pat, LoginOptions{}); !errors.Is(err, store.ErrOutcomeUnknown) {
		t.Fatal(err)
	}
	r.st.late.Store(false)
	if _, err := m.Logout(ctx, "prod"); err != nil {
		t.Fatalf("logout: %v", err)
	}
	r.st.wg.Wait()
	// What the late write left is tracked: listed as an orphan, and a
	// second logout removes it.
	reg, _ := registry.Load(r.path)
	if k := r.st.Keys(); len(k) != 1 || len(reg.Pending) != 1 || len(m.Orphans()) != 1 {
		t.Fatalf("store holds %q; registry pending %d; Orphans() = %v", k, len(reg.Pending), m.Orphans())
	}
	if _, err := m.Logout(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if k := r.st.Keys(); len(k) != 0 || len(m.Orphans()) != 0 {
		t.Fatalf("after the second logout: store %q, orphans %v", k, m.Orphans())
	}
}

// failDelete fails deletes of one key with a definite error.
type failDelete struct {
	*store.Memory
	key atomic.Value
}

func (f *failDelete) Delete(ctx context.Context, k string) error {
	if v, _ := f.key.Load().(string); v == k {
		return errors.New("keyring locked")
	}
	return f.Memory.Delete(ctx, k)
}

// A request that held the old owner of a re-login and loads it after it
// was closed starts no minting loop that nothing would stop.
func TestAReplacedOwnerNeverStartsMinting(t *testing.T) {
	ctx := context.Background()
	clk := tokensource.Scaled{Start: time.Now(), Speed: 10}
	emu := wsemu.New(wsemu.WithClock(clk.Now))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	pat := emu.AddUser("a@x")
	ws := workspace.New(10 * time.Second)
	st := &failDelete{Memory: store.NewMemory()}
	path := filepath.Join(t.TempDir(), "p.json")
	m, _ := New(path, st, ws, Rotation{Tokens: ws.Tokens, Clock: clk}, quietLog())
	if _, _, err := m.Login(ctx, "p", srv.URL, pat, LoginOptions{Lifetime: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	for _, o := range m.owners {
		o.stop()
	}
	m2, _ := New(path, st, ws, Rotation{Tokens: ws.Tokens, Clock: clk}, quietLog()) // restart, unloaded
	old := m2.owners["p"]
	st.key.Store(old.secretKey())
	oldComment := m2.env.comment(old.snapshot())
	if _, _, err := m2.Login(ctx, "p", srv.URL, pat, LoginOptions{Lifetime: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// the request that found old before the swap, passed ensureLoaded's
	// closed check and waited on op while retireOwner held it:
	old.op.Lock()
	err := old.loadLocked(ctx)
	old.op.Unlock()
	t.Logf("ensureLoaded on the replaced owner: %v", err)
	time.Sleep(3 * time.Second) // 30 s scaled: several renewals
	n := 0
	for _, ti := range emu.LiveTokens("a@x") {
		if ti.Comment == oldComment {
			n++
		}
	}
	if n > 0 {
		t.Errorf("%d tokens of the replaced login minted after it was retired (leaked loop)", n)
	}
}

type failAllDelete struct {
	*store.Memory
	fail atomic.Bool
}

func (f *failAllDelete) Delete(ctx context.Context, k string) error {
	if f.fail.Load() {
		return errors.New("the keyring collection is locked")
	}
	return f.Memory.Delete(ctx, k)
}

// R6: a logout whose store deletes fail still ends the login (everything
// it made is revoked, the profile is gone) and lists what is left as an
// orphan, instead of putting back an owner that forgot what it revoked.
func TestLogoutWithFailingDeletesListsTheOrphan(t *testing.T) {
	ctx := context.Background()
	emu, host, pat := workspaceWith(t, "a@x")
	ws := workspace.New(10 * time.Second)
	secrets := &failAllDelete{Memory: store.NewMemory()}
	derived := &failAllDelete{Memory: store.NewMemory()}
	m, _ := New(filepath.Join(t.TempDir(), "p.json"), secrets, ws, Rotation{Tokens: ws.Tokens, Derived: derived}, quietLog())
	if _, _, err := m.Login(ctx, "p", host, pat, LoginOptions{Lifetime: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "p"}); err != nil {
		t.Fatal(err)
	}
	secrets.fail.Store(true)
	derived.fail.Store(true)
	res, err := m.Logout(ctx, "p")
	if err != nil || !strings.Contains(res.Advice, "orphaned") {
		t.Fatalf("logout = %+v, %v", res, err)
	}
	if n := live(emu, "a@x"); n != 0 {
		t.Fatalf("%d dbx-cred tokens alive after logout", n)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "p"}); !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("a logged-out profile still serves: %v", err)
	}
	if o := m.Orphans(); len(o) != 1 {
		t.Fatalf("orphans: %+v", o)
	}
	secrets.fail.Store(false)
	if _, err := m.Logout(ctx, "p"); err != nil || len(secrets.Keys()) != 0 {
		t.Fatalf("second logout: %v, store %q", err, secrets.Keys())
	}
}
