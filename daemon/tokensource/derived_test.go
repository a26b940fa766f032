package tokensource

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

const comment = "dbx-cred:test:prod"

type rig struct {
	clk  Scaled
	emu  *wsemu.Emulator
	srv  *httptest.Server
	user string
	root string
	api  *workspace.TokenAPI
}

// newRig runs the emulator and the source on one clock, speed times faster
// than real time, over real HTTP.
func newRig(t *testing.T, speed float64, opts ...wsemu.Option) *rig {
	clk := Scaled{Start: time.Now(), Speed: speed}
	emu := wsemu.New(append([]wsemu.Option{wsemu.WithClock(clk.Now)}, opts...)...)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	r := &rig{clk: clk, emu: emu, srv: srv, user: "alice@example.com"}
	r.root = emu.AddUser(r.user)
	r.api = workspace.New(0).Tokens(srv.URL, r.root)
	return r
}

func (r *rig) source(cfg Config, lifetime time.Duration) *Derived {
	cfg.Clock = r.clk
	cfg.Name = "prod"
	m := &PATMinter{API: func() *workspace.TokenAPI { return r.api }, Lifetime: lifetime, Comment: comment}
	return NewDerived(m, cfg, Token{})
}

func (r *rig) liveDerived() int {
	n := 0
	for _, ti := range r.emu.LiveTokens(r.user) {
		if ti.Comment == comment {
			n++
		}
	}
	return n
}

func TestHundredsOfRotationsNeverServeAnExpiredToken(t *testing.T) {
	// 10 s lifetimes at 60x: a rotation every ~105 ms of real time, with
	// enough real-time margin (2 s / 60 = 33 ms) that scheduler noise under
	// -race does not masquerade as an expired token.
	r := newRig(t, 60)
	d := r.source(Config{}, 10*time.Second)
	defer d.Revoke(context.Background())

	var served, bad atomic.Int64
	var maxLive atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := d.Token(context.Background())
				now := r.clk.Now()
				if err != nil {
					t.Errorf("Token: %v", err)
					bad.Add(1)
					return
				}
				if !tok.Expiry.After(now) {
					t.Errorf("served a token that expired at %s (now %s)", tok.Expiry, now)
					bad.Add(1)
				}
				if _, ok := r.emu.Authenticate(tok.Value); !ok {
					t.Errorf("served a token the workspace does not accept")
					bad.Add(1)
				}
				if strings.Contains(tok.Value, r.root) {
					t.Error("served the root")
				}
				served.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if n := int64(r.liveDerived()); n > maxLive.Load() {
				maxLive.Store(n)
			}
		}
	}()
	deadline := time.Now().Add(40 * time.Second)
	for r.emu.Requests("POST", "/api/2.0/token/create") < 200 && time.Now().Before(deadline) && bad.Load() == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	mints := r.emu.Requests("POST", "/api/2.0/token/create")
	t.Logf("%d rotations, %d tokens served, at most %d live derived tokens", mints, served.Load(), maxLive.Load())
	if mints < 200 {
		t.Fatalf("only %d rotations in the time allowed", mints)
	}
	if maxLive.Load() > 2 {
		t.Fatalf("%d derived tokens were alive at once; at most 2 allowed", maxLive.Load())
	}
	if _, err := d.Revoke(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.liveDerived(); n != 0 {
		t.Fatalf("%d derived tokens alive after Close(revoke)", n)
	}
}

func TestThrottlingAndOutagesBackOffWhileServingTheCurrentToken(t *testing.T) {
	// 300 s lifetime: renewal starts with ~100 s left, more than the
	// faults below can cost (3 x 5 s Retry-After, then 503 backoff).
	r := newRig(t, 100)
	d := r.source(Config{}, 300*time.Second)
	defer d.Revoke(context.Background())
	first, err := d.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The token's own expiry; Token advertises an earlier one (see
	// TestAdvertisedExpiryPrecedesRevocation).
	firstExpiry := d.Status().Expiry
	// From now on renewals meet 429s asking for 5 s, then a 503 burst.
	r.emu.InjectFault(wsemu.Fault{Method: "POST", Path: "/api/2.0/token/create", Status: 429, RetryAfter: 5 * time.Second, Times: 3})
	r.emu.InjectFault(wsemu.Fault{Method: "POST", Path: "/api/2.0/token/create", Status: 503, Times: 3})
	var next Token
	for {
		tok, err := d.Token(context.Background())
		if err != nil {
			t.Fatalf("a client got an error while a valid token existed: %v", err)
		}
		if !tok.Expiry.After(r.clk.Now()) {
			t.Fatal("served an expired token")
		}
		if tok.Value != first.Value {
			next = tok
			break
		}
		if r.clk.Now().After(firstExpiry) {
			t.Fatal("no renewal before the first token expired")
		}
		time.Sleep(time.Millisecond)
	}
	creates := r.emu.Requests("POST", "/api/2.0/token/create")
	// 1 first mint + 6 faulted attempts + 1 success: no hammering.
	if creates != 8 {
		t.Fatalf("%d token/create requests; want exactly 8 (1 + 3x429 + 3x503 + 1)", creates)
	}
	if st := d.Status(); st.LastError != nil || next.ID == "" {
		t.Fatalf("not recovered: %+v", st)
	}
}

func TestRejectedRootNeedsLogin(t *testing.T) {
	r := newRig(t, 100)
	d := r.source(Config{}, 10*time.Second)
	defer d.Stop()
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.emu.RevokeToken(r.root)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := d.Token(context.Background())
		if errors.Is(err, ErrNeedsLogin) {
			if !strings.Contains(err.Error(), "dbx-cred login -p prod") {
				t.Fatalf("message lacks the fix: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached needs-login; last: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !d.Status().NeedsLogin {
		t.Fatal("status does not say needs-login")
	}
}

func TestQuotaRunsCleanupThenRetries(t *testing.T) {
	r := newRig(t, 1, wsemu.WithQuota(5))
	// Four leftovers of a crashed daemon fill the quota with the root.
	for range 4 {
		r.emu.CreatePAT(r.user, comment, time.Hour, nil)
	}
	cleanups := 0
	cfg := Config{OnQuota: func(ctx context.Context) error {
		cleanups++
		for _, ti := range r.emu.LiveTokens(r.user) {
			if ti.Comment == comment {
				if err := r.api.Delete(ctx, ti.TokenID); err != nil {
					return err
				}
			}
		}
		return nil
	}}
	d := r.source(cfg, time.Hour)
	defer d.Revoke(context.Background())
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cleanups != 1 || r.liveDerived() != 1 {
		t.Fatalf("cleanups %d, live %d", cleanups, r.liveDerived())
	}
}

func TestPersistedTokenIsReused(t *testing.T) {
	r := newRig(t, 1)
	nt, err := r.api.Create(context.Background(), time.Hour, comment, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &PATMinter{API: func() *workspace.TokenAPI { return r.api }, Lifetime: time.Hour, Comment: comment}
	d := NewDerived(m, Config{Name: "prod"}, Token{Value: nt.Value, ID: nt.ID, Expiry: nt.Expiry})
	defer d.Revoke(context.Background())
	tok, err := d.Token(context.Background())
	if err != nil || tok.Value != nt.Value {
		t.Fatalf("did not reuse the persisted token: %v", err)
	}
	if n := r.emu.Requests("POST", "/api/2.0/token/create"); n != 1 {
		t.Fatalf("%d creates; the persisted token should have been reused", n)
	}
}

// Clients are told a token expires when it may first be revoked (a grace
// period after its planned replacement), not at its own expiry, so caching
// clients re-ask in time.
func TestAdvertisedExpiryPrecedesRevocation(t *testing.T) {
	r := newRig(t, 1)
	d := r.source(Config{}, time.Hour)
	defer d.Revoke(context.Background())
	tok, err := d.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := d.Status()
	grace := 30 * time.Second // min(lifetime/10, 30 s) for 1 h tokens
	if !tok.Expiry.Before(st.Expiry) || tok.Expiry.After(st.NextRenewal.Add(grace)) || tok.Expiry.Before(st.NextRenewal) {
		t.Fatalf("advertised %s; real expiry %s, renewal %s", tok.Expiry, st.Expiry, st.NextRenewal)
	}
}
