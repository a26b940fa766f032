package tokensource

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// A workspace whose clock is off from ours by nearly a whole lifetime, either
// way, must not make fresh tokens look dead (a renewal loop) or alive past
// their end: usability is the granted lifetime counted on our clock.
func TestClockSkewCannotCauseARenewalLoop(t *testing.T) {
	const lifetime = 10 * time.Second
	for _, skew := range []time.Duration{lifetime - time.Second, -(lifetime - time.Second), 0} {
		t.Run(fmt.Sprint(skew), func(t *testing.T) {
			clk := Scaled{Start: time.Now(), Speed: 20}
			emu := wsemu.New(wsemu.WithClock(func() time.Time { return clk.Now().Add(-skew) }))
			srv := httptest.NewServer(emu)
			defer srv.Close()
			root := emu.AddUser("alice@example.com")
			api := workspace.New(0).Tokens(srv.URL, root)
			d := NewDerived(&PATMinter{API: func() *workspace.TokenAPI { return api }, Lifetime: lifetime, Comment: comment},
				Config{Name: "prod", Clock: clk}, Token{})
			defer d.Revoke(context.Background())

			// 60 s of our clock (3 s real): a renewal every ~6 s, so about
			// ten mints; a loop makes hundreds.
			end := clk.Now().Add(60 * time.Second)
			served := 0
			for clk.Now().Before(end) {
				tok, err := d.Token(context.Background())
				if err != nil {
					t.Fatalf("Token: %v", err)
				}
				if _, ok := emu.Authenticate(tok.Value); !ok {
					t.Fatal("served a token the workspace does not accept")
				}
				served++
				time.Sleep(5 * time.Millisecond)
			}
			mints := emu.Requests("POST", "/api/2.0/token/create")
			deletes := emu.Requests("POST", "/api/2.0/token/delete")
			t.Logf("skew %s: %d mints, %d deletes, %d served", skew, mints, deletes, served)
			if mints > 16 {
				t.Fatalf("%d mints in 60 s of 10 s tokens: renewal is looping", mints)
			}
			// Each superseded token is revoked once, never re-scheduled.
			if deletes > mints {
				t.Fatalf("%d deletes for %d mints: revocations were scheduled more than once", deletes, mints)
			}
		})
	}
}

// A workspace that grants less life than can be served is a failure with
// backoff, not a reason to mint again at once.
func TestTooShortGrantsBackOff(t *testing.T) {
	clk := Scaled{Start: time.Now(), Speed: 20}
	emu := wsemu.New(wsemu.WithClock(clk.Now))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	root := emu.AddUser("alice@example.com")
	api := workspace.New(0).Tokens(srv.URL, root)
	// Asks for 3 s: usable for 1 s past MinRemaining, under the 2x floor.
	d := NewDerived(&PATMinter{API: func() *workspace.TokenAPI { return api }, Lifetime: 3 * time.Second, Comment: comment},
		Config{Name: "prod", Clock: clk}, Token{})
	defer d.Revoke(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := d.Token(ctx)
	if err == nil {
		t.Fatal("served a token too short-lived to use")
	}
	time.Sleep(time.Second) // 20 s of our clock
	if n := emu.Requests("POST", "/api/2.0/token/create"); n > 8 {
		t.Fatalf("%d mints in 20 s: no backoff", n)
	}
}

// A lazy (scoped) source mints only for clients: once unused past its
// token's expiry it reports Idle and mints nothing more.
func TestLazySourceGoesIdle(t *testing.T) {
	r := newRig(t, 50)
	d := r.source(Config{Lazy: true}, 10*time.Second)
	defer d.Revoke(context.Background())
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // 30 s: three lifetimes
	if n := r.emu.Requests("POST", "/api/2.0/token/create"); n != 1 {
		t.Fatalf("%d mints for one client call: a lazy source renewed unused tokens", n)
	}
	if !d.Status().Idle {
		t.Fatal("an unused, expired lazy source does not report idle")
	}
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.Status().Idle {
		t.Fatal("idle after a client asked again")
	}
}

// A rejection report re-mints at most once per minAge.
func TestRejectionReportsAreRateLimited(t *testing.T) {
	r := newRig(t, 1)
	d := r.source(Config{}, time.Hour)
	defer d.Revoke(context.Background())
	tok, err := d.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Refresh(tok.Value, 10*time.Second) {
		t.Fatal("a rejection of a token minted just now re-minted at once")
	}
	for range 20 {
		tok, _ = d.Token(context.Background())
		d.Refresh(tok.Value, 10*time.Second)
	}
	if n := r.emu.Requests("POST", "/api/2.0/token/create"); n != 1 {
		t.Fatalf("%d mints for 20 rejection reports within 10 s", n)
	}
}
