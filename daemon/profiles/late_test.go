package profiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// lateStore answers writes like a keyring whose unlock prompt is answered
// only after the caller gave up: the call times out (outcome unknown) and
// the write lands a little later.
type lateStore struct {
	*store.Memory
	late atomic.Bool
	wg   sync.WaitGroup
}

func (l *lateStore) Set(ctx context.Context, key, secret string) error {
	if !l.late.Load() {
		return l.Memory.Set(ctx, key, secret)
	}
	settled := make(chan struct{})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		time.Sleep(100 * time.Millisecond)
		l.Memory.Set(context.Background(), key, secret)
		close(settled)
	}()
	return &store.UnavailableError{Op: "write", Key: key, Reason: "the keyring did not answer within 5s", Fix: "unlock it",
		Err: fmt.Errorf("%w: %w", store.ErrOutcomeUnknown, context.DeadlineExceeded), Settled: settled}
}

type lateRig struct {
	emu    *wsemu.Emulator
	srv    *httptest.Server
	st     *lateStore
	path   string
	ws     *workspace.Client
	pat    string
	newMgr func() *Manager
}

func newLateRig(t *testing.T) *lateRig {
	emu := wsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	r := &lateRig{emu: emu, srv: srv, st: &lateStore{Memory: store.NewMemory()}, path: filepath.Join(t.TempDir(), "profiles.json"), ws: workspace.New(10 * time.Second)}
	r.pat = emu.AddUser("alice@example.com")
	r.newMgr = func() *Manager {
		m, err := New(r.path, r.st, r.ws, Rotation{Tokens: r.ws.Tokens}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	return r
}

func (r *lateRig) liveMinted() int {
	n := 0
	for _, ti := range r.emu.LiveTokens("alice@example.com") {
		if strings.HasPrefix(ti.Comment, "dbx-cred:") {
			n++
		}
	}
	return n
}

// A rotate whose keyring write times out and lands later must leave the
// valid old root in use: before, the new root was revoked and the late write
// then stored it, so the old PAT was stored nowhere.
func TestRotateWithALateKeyringWriteKeepsTheOldRoot(t *testing.T) {
	ctx := context.Background()
	r := newLateRig(t)
	m := r.newMgr()
	if _, _, err := m.Login(ctx, "prod", r.srv.URL, r.pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	r.st.late.Store(true)
	_, err := m.Rotate(ctx, "prod")
	if !errors.Is(err, store.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "old root stays in use") {
		t.Fatalf("Rotate = %v; want an unknown outcome that keeps the old root", err)
	}
	r.st.wg.Wait() // the late write lands
	r.st.late.Store(false)
	if _, ok := r.emu.Authenticate(r.pat); !ok {
		t.Fatal("the old root was revoked")
	}
	// A restarted daemon still serves from the old root.
	m2 := r.newMgr()
	if _, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); err != nil {
		t.Fatalf("after the late write and a restart: %v", err)
	}
	if o := m2.Orphans(); len(o) != 1 || o[0].Profile != "prod" {
		t.Fatalf("orphans after the late write: %+v", o)
	}
	m2.reconcile(ctx)
	if o := m2.Orphans(); len(o) != 1 {
		t.Fatalf("reconcile dropped an orphan that is in the store: %+v", o)
	}
	res, err := m2.Logout(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if k := r.st.Keys(); len(k) != 0 || len(m2.Orphans()) != 0 {
		t.Fatalf("after logout: store %q, orphans %+v", k, m2.Orphans())
	}
	if !strings.Contains(strings.Join(res.Revoked, "\n"), "orphaned secret") {
		t.Fatalf("logout did not say it removed the orphan: %+v", res)
	}
}

// A login whose write timed out revokes its trial token, stores no profile,
// and the late-landing secret is an orphan status lists and logout removes.
func TestLoginWithALateKeyringWriteLeavesNothingAlive(t *testing.T) {
	ctx := context.Background()
	r := newLateRig(t)
	m := r.newMgr()
	r.st.late.Store(true)
	_, _, err := m.Login(ctx, "prod", r.srv.URL, r.pat, LoginOptions{})
	if !errors.Is(err, store.ErrOutcomeUnknown) || !strings.Contains(err.Error(), "dbx-cred logout -p prod") {
		t.Fatalf("Login = %v; want an unknown outcome naming the fix", err)
	}
	r.st.wg.Wait()
	r.st.late.Store(false)
	if n := r.liveMinted(); n != 0 {
		t.Fatalf("%d trial-minted tokens alive after a login that stored nothing", n)
	}
	if l := m.List(); len(l) != 0 {
		t.Fatalf("a failed login shows as a profile: %+v", l)
	}
	if o := r.newMgr().Orphans(); len(o) != 1 || o[0].Profile != "prod" {
		t.Fatalf("orphans seen by a restarted daemon: %+v", o)
	}
	if _, err := m.Logout(ctx, "prod"); err != nil {
		t.Fatalf("logout of an orphan-only profile: %v", err)
	}
	if k := r.st.Keys(); len(k) != 0 {
		t.Fatalf("store after logout: %q", k)
	}
}

// A pending write whose outcome turned out to be "nothing landed" is
// dropped by the reconciler, but only once the call has settled.
func TestReconcileWaitsForTheCallToSettle(t *testing.T) {
	ctx := context.Background()
	r := newLateRig(t)
	m := r.newMgr()
	never := make(chan struct{})
	m.addPending(pendingFor("prod", "prod\x1fabcd"))
	m.settling["prod\x1fabcd"] = never
	m.reconcile(ctx)
	if len(m.Orphans()) != 1 {
		t.Fatal("reconciled a key whose call is still in flight")
	}
	close(never)
	m.reconcile(ctx)
	if len(m.Orphans()) != 0 {
		t.Fatal("a settled key the store does not hold is still an orphan")
	}
}

func pendingFor(profile, key string) registry.Pending {
	return registry.Pending{Key: key, Profile: profile, Reason: "test", Since: time.Now()}
}

// lateDeleteStore times deletes out; they land a little later.
type lateDeleteStore struct{ *lateStore }

func (l lateDeleteStore) Delete(ctx context.Context, key string) error {
	if !l.late.Load() {
		return l.Memory.Delete(ctx, key)
	}
	settled := make(chan struct{})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		time.Sleep(50 * time.Millisecond)
		l.Memory.Delete(context.Background(), key)
		close(settled)
	}()
	return &store.UnavailableError{Op: "delete", Key: key, Reason: "timed out", Fix: "unlock it",
		Err: fmt.Errorf("%w: %w", store.ErrOutcomeUnknown, context.DeadlineExceeded), Settled: settled}
}

// A logout whose store delete times out still logs out (everything was
// revoked already), and the secret is tracked until it is seen gone.
func TestLogoutWithALateDelete(t *testing.T) {
	ctx := context.Background()
	r := newLateRig(t)
	st := lateDeleteStore{r.st}
	m, err := New(r.path, st, r.ws, Rotation{Tokens: r.ws.Tokens}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Login(ctx, "prod", r.srv.URL, r.pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	r.st.late.Store(true)
	res, err := m.Logout(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.List()) != 0 || len(m.Orphans()) != 1 || !strings.Contains(res.Advice, "did not confirm") {
		t.Fatalf("after a timed-out delete: profiles %+v, orphans %+v, advice %q", m.List(), m.Orphans(), res.Advice)
	}
	r.st.wg.Wait()
	r.st.late.Store(false)
	m.reconcile(ctx)
	if o := m.Orphans(); len(o) != 0 {
		t.Fatalf("the delete landed, yet orphans: %+v", o)
	}
	if n := r.liveMinted(); n != 0 {
		t.Fatalf("%d minted tokens alive after logout", n)
	}
}
