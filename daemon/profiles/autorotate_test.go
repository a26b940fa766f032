package profiles

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// fakeClock is time that moves only when a test moves it; the emulator
// shares it, so tokens expire on it too. After fires once the clock has
// moved past the deadline.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

const day = 24 * time.Hour

// autoRig: a workspace whose admins cap token lifetimes at max, on a
// clock the test moves, and managers over one registry and store.
type autoRig struct {
	clock   *fakeClock
	emu     *wsemu.Emulator
	host    string
	pat     string
	path    string
	secrets *store.Memory
	ws      *workspace.Client
}

func newAutoRig(t *testing.T, maxLife time.Duration) *autoRig {
	r := &autoRig{clock: newFakeClock(), path: filepath.Join(t.TempDir(), "profiles.json"), secrets: store.NewMemory(), ws: workspace.New(10 * time.Second)}
	r.emu = wsemu.New(wsemu.WithClock(r.clock.Now), wsemu.WithMaxLifetime(maxLife), wsemu.WithUnusedRevocation(0))
	srv := httptest.NewServer(r.emu)
	t.Cleanup(srv.Close)
	r.host, r.pat = srv.URL, r.emu.AddUser("alice@example.com")
	return r
}

func (r *autoRig) manager(t *testing.T) *Manager {
	m, err := New(r.path, r.secrets, r.ws, Rotation{Tokens: r.ws.Tokens, Derived: store.NewMemory(), Clock: r.clock}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range m.Names() {
			o, _ := m.lookup(n)
			o.stop()
		}
	})
	return m
}

func (r *autoRig) meta(t *testing.T, m *Manager) registry.Profile {
	o, err := m.lookup("prod")
	if err != nil {
		t.Fatal(err)
	}
	return o.snapshot()
}

func (r *autoRig) live(id string) bool {
	for _, ti := range r.emu.LiveTokens("alice@example.com") {
		if ti.TokenID == id {
			return true
		}
	}
	return false
}

// When a root is due: 80% of its life or 7 days before expiry, whichever
// comes first, but never before half its life (a root shorter than 7 days
// would otherwise be due before it was created, and so would each of its
// successors).
func TestRootDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		life time.Duration
		want time.Duration // after creation
	}{
		{"90 days: 80% (day 72) before 7 days ahead (day 83)", 90 * day, 72 * day},
		{"30 days: 7 days ahead (day 23) before 80% (day 24)", 30 * day, 23 * day},
		{"10 days: 7 days ahead (day 3) is before half its life: day 5", 10 * day, 5 * day},
		{"60 seconds (a short workspace maximum): at 30 s", time.Minute, 30 * time.Second},
	} {
		p := registry.Profile{RootID: "r", RootCreated: t0, RootExpiry: t0.Add(c.life)}
		if got := rootDue(p).Sub(t0); got != c.want {
			t.Errorf("%s: due %s after creation, want %s", c.name, got, c.want)
		}
	}
	if !rootDue(registry.Profile{}).IsZero() {
		t.Error("a pasted root (no id, no expiry) is due")
	}
	// A registry from before root_created: the lifetime is taken as 90 days.
	p := registry.Profile{RootID: "r", RootExpiry: t0.Add(90 * day)}
	if got := rootDue(p); !got.Equal(t0.Add(72 * day)) {
		t.Errorf("without root_created: due %s, want %s", got, t0.Add(72*day))
	}
}

// The refusal of a too-long lifetime names the maximum; it is parsed from
// what the workspace says (seconds, else days), and nothing else is taken
// for one.
func TestMaxLifetimeFromRefusal(t *testing.T) {
	for _, c := range []struct {
		err  error
		want time.Duration
	}{
		{&workspace.APIError{Status: 400, Code: "INVALID_PARAMETER_VALUE", Message: "Token lifetime of 7776000 seconds exceeds the maximum lifetime of 2592000 seconds (30 days) set for this workspace."}, 30 * day},
		{&workspace.APIError{Status: 400, Code: "INVALID_PARAMETER_VALUE", Message: "Lifetime exceeds the maximum token lifetime of 14 days."}, 14 * day},
		{&workspace.APIError{Status: 400, Code: "INVALID_PARAMETER_VALUE", Message: "lifetime_seconds must not be negative, got -1"}, 0},
		{&workspace.APIError{Status: 400, Code: "QUOTA_EXCEEDED", Message: "maximum of 600 tokens"}, 0},
		{errors.New("maximum lifetime of 60 seconds"), 0},
	} {
		if got := maxLifetimeFrom(c.err); got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}

// A workspace maximum below the 90 days rotate asks for: the create is
// retried within the maximum the refusal names, and the new root gets it.
// Before, rotate failed on such a workspace ("nothing changed").
func TestRotateWithinTheWorkspaceMaximum(t *testing.T) {
	ctx := context.Background()
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := m.Adopt(ctx, "prod")
	if err != nil {
		t.Fatalf("Adopt on a workspace with a 30-day maximum: %v", err)
	}
	p := r.meta(t, m)
	if life := p.RootExpiry.Sub(p.RootCreated); life != 30*day {
		t.Fatalf("new root lives %s, want the workspace maximum of 30 days", life)
	}
	if !strings.Contains(res.Message, "still valid") || !strings.Contains(res.Message, "Access tokens") || strings.Contains(res.Message, r.pat) {
		t.Fatalf("adopt message %q: want the pasted token still valid, where to revoke it, and no secret", res.Message)
	}
	// The successor asks for its predecessor's lifetime: accepted at once.
	creates := r.emu.Requests("POST", "/api/2.0/token/create")
	if _, err := m.Rotate(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if n := r.emu.Requests("POST", "/api/2.0/token/create") - creates; n != 1 {
		t.Fatalf("the second rotate made %d creates, want 1 (no refused try)", n)
	}
	if q := r.meta(t, m); q.RootExpiry.Sub(q.RootCreated) != 30*day || q.RootID == p.RootID || r.live(p.RootID) {
		t.Fatalf("second rotate: %+v (old root live: %v)", q, r.live(p.RootID))
	}
}

// The schedule, on a clock the test moves: nothing before the root is due,
// the root replaced once it is (and the old one revoked), the next one
// scheduled from its own life; clients keep getting tokens throughout.
func TestAutoRotateWhenDue(t *testing.T) {
	ctx := context.Background()
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if next, _ := m.auto.report(r.meta(t, m)); !next.IsZero() {
		t.Fatalf("a pasted root is scheduled for %s", next)
	}
	if _, err := m.Adopt(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	first := r.meta(t, m)
	due := first.RootExpiry.Add(-7 * day) // 30 days: the 7-day rule
	if next := m.List()[0].NextRootRotation; !next.Equal(due) {
		t.Fatalf("status says next rotation %s, want %s", next, due)
	}
	r.clock.advance(due.Sub(r.clock.Now()) - time.Minute)
	if next := m.auto.pass(ctx); !next.Equal(due) || r.meta(t, m).RootID != first.RootID {
		t.Fatalf("a minute before due: rotated, or next %s", next)
	}
	r.clock.advance(time.Minute)
	m.auto.pass(ctx)
	second := r.meta(t, m)
	if second.RootID == first.RootID {
		t.Fatal("not rotated when due")
	}
	if r.live(first.RootID) {
		t.Fatal("the old root is still live")
	}
	if life := second.RootExpiry.Sub(second.RootCreated); life != 30*day {
		t.Fatalf("the new root lives %s, want its predecessor's 30 days", life)
	}
	if next := m.List()[0].NextRootRotation; !next.Equal(second.RootExpiry.Add(-7 * day)) {
		t.Fatalf("next rotation %s", next)
	}
	tok, err := m.Token(ctx, TokenRequest{Profile: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.emu.Authenticate(tok.Value); !ok {
		t.Fatal("the served token does not work after the rotation")
	}
}

// --no-auto-rotate: a root dbx-cred created is left alone, status says no
// rotation is planned, and a manual rotate still works.
func TestNoAutoRotate(t *testing.T) {
	ctx := context.Background()
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{NoAutoRotate: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Adopt(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	first := r.meta(t, m)
	if !first.NoAutoRotate {
		t.Fatal("the registry does not record --no-auto-rotate")
	}
	r.clock.advance(25 * day)
	m.auto.pass(ctx)
	if r.meta(t, m).RootID != first.RootID {
		t.Fatal("rotated despite --no-auto-rotate")
	}
	p := m.List()[0]
	if !p.NextRootRotation.IsZero() || !strings.Contains(p.RootWarning, "dbx-cred rotate -p prod") {
		t.Fatalf("status: next %s, warning %q", p.NextRootRotation, p.RootWarning)
	}
	// The choice is in the registry: a restarted daemon keeps it.
	if m2 := r.manager(t); !r.meta(t, m2).NoAutoRotate {
		t.Fatal("a restarted daemon forgot --no-auto-rotate")
	}
}

// A daemon that was down when the root came due rotates it at start; one
// down until after the root expired cannot (the workspace refuses an expired
// root), tries nothing, and says that a login is needed.
func TestAutoRotateAfterDowntime(t *testing.T) {
	ctx := context.Background()
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{Static: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Adopt(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	first := r.meta(t, m)

	r.clock.advance(26 * day) // the daemon was down from day 0 to day 26
	m2 := r.manager(t)
	m2.auto.pass(ctx)
	second := r.meta(t, m2)
	if second.RootID == first.RootID {
		t.Fatal("a daemon started after the due time did not rotate")
	}
	// A static profile served the old root itself: it is left to expire
	// (day 30) rather than revoked under the clients that hold it.
	if !r.live(first.RootID) {
		t.Fatal("a static profile's old root was revoked at an automatic rotation")
	}
	tok, err := m2.Token(ctx, TokenRequest{Profile: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.emu.Authenticate(tok.Value); !ok || tok.Value == r.pat {
		t.Fatal("the static profile does not serve its new root")
	}

	r.clock.advance(31 * day) // down again, past the new root's expiry
	m3 := r.manager(t)
	creates := r.emu.Requests("POST", "/api/2.0/token/create")
	m3.auto.pass(ctx)
	m3.auto.pass(ctx)
	if n := r.emu.Requests("POST", "/api/2.0/token/create") - creates; n != 0 {
		t.Fatalf("%d creates with an expired root", n)
	}
	p := m3.List()[0]
	if !p.NextRootRotation.IsZero() || !strings.Contains(p.RootRotationError, "expired") || !strings.Contains(p.RootWarning, "--adopt") {
		t.Fatalf("expired root: next %s, error %q, warning %q", p.NextRootRotation, p.RootRotationError, p.RootWarning)
	}
}

// A failed automatic rotate keeps the old root in use, shows the error in
// status, and is retried after a back-off that grows; success clears it.
func TestAutoRotateBacksOff(t *testing.T) {
	ctx := context.Background()
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Adopt(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	first := r.meta(t, m)
	r.clock.advance(rootDue(first).Sub(r.clock.Now()))
	r.emu.InjectFault(wsemu.Fault{Method: "POST", Path: "/api/2.0/token/create", Status: 503})
	next := m.auto.pass(ctx)
	if got := next.Sub(r.clock.Now()); got != rotateRetryMin {
		t.Fatalf("first retry in %s, want %s", got, rotateRetryMin)
	}
	p := m.List()[0]
	if p.RootID != first.RootID || !strings.Contains(p.RootRotationError, "503") || !strings.Contains(p.RootWarning, "failed") {
		t.Fatalf("after a failure: root %s, error %q, warning %q", p.RootID, p.RootRotationError, p.RootWarning)
	}
	m.auto.pass(ctx) // not yet due again: no attempt
	if n := r.emu.Requests("POST", "/api/2.0/token/create"); n < 1 {
		t.Fatal("no create was tried")
	}
	// Counted as the rotator's failures, not as token/create requests: the
	// derived source, woken by the clock's jump, mints (and fails) on its
	// own goroutine at a moment this test does not control.
	failures := func() int { m.auto.mu.Lock(); defer m.auto.mu.Unlock(); return m.auto.state["prod"].failures }
	before := failures()
	m.auto.pass(ctx)
	if failures() != before {
		t.Fatal("retried before the back-off ended")
	}
	r.clock.advance(rotateRetryMin)
	next = m.auto.pass(ctx)
	if got := next.Sub(r.clock.Now()); got != 2*rotateRetryMin {
		t.Fatalf("second retry in %s, want %s", got, 2*rotateRetryMin)
	}
	r.emu.ClearFaults()
	r.clock.advance(2 * rotateRetryMin)
	m.auto.pass(ctx)
	p = m.List()[0]
	if p.RootID == first.RootID || p.RootRotationError != "" {
		t.Fatalf("after the workspace recovered: root %s (old %s), error %q", p.RootID, first.RootID, p.RootRotationError)
	}
}

// run: the goroutine wakes by itself when the root is due, with no other
// prompt than the clock.
func TestAutoRotateRunWakesWhenDue(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := newAutoRig(t, 30*day)
	m := r.manager(t)
	if _, _, err := m.Login(ctx, "prod", r.host, r.pat, LoginOptions{Static: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Adopt(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	first := r.meta(t, m)
	done := make(chan struct{})
	go func() { m.auto.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Move the clock a minute at a time (run waits at most rotateRecheck)
	// until the root is replaced, or well past its due time.
	for i := 0; r.meta(t, m).RootID == first.RootID; i++ {
		if r.clock.Now().After(rootDue(first).Add(time.Hour)) {
			t.Fatal("run did not rotate a due root")
		}
		r.clock.advance(day)
		time.Sleep(20 * time.Millisecond)
	}
}
