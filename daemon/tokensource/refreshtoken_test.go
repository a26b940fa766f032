package tokensource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// u2mRig is a workspace with one logged-in user and a source persisting
// into memory, as a profile persists into the store.
type u2mRig struct {
	emu   *wsemu.Emulator
	url   string
	mu    sync.Mutex
	saved []Grant
	inFl  []int64 // generations marked in flight; -gen when cleared
}

func newU2MRig(t *testing.T, opts ...wsemu.Option) (*u2mRig, Grant) {
	emu := wsemu.New(opts...)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	_, refresh := emu.IssueOAuthLogin("alice@example.com", "")
	return &u2mRig{emu: emu, url: srv.URL}, Grant{RefreshToken: refresh, Gen: 1}
}

func (r *u2mRig) config() RefreshTokenConfig {
	return RefreshTokenConfig{
		Name: "test", TokenURL: r.url + wsemu.PathOIDCToken, ClientID: wsemu.OAuthCLIClientID,
		Scopes: []string{"offline_access", "all-apis"},
		Intent: func(_ context.Context, gen int64, inFlight bool) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			if !inFlight {
				gen = -gen
			}
			r.inFl = append(r.inFl, gen)
			return nil
		},
		Persist: func(_ context.Context, g Grant) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.saved = append(r.saved, g)
			return nil
		},
	}
}

func (r *u2mRig) lastSaved() Grant {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.saved) == 0 {
		return Grant{}
	}
	return r.saved[len(r.saved)-1]
}

// Forty clients at once, and forty forced refreshes at once, cost one
// refresh each time; the emulator sees no overlap and no reuse, and every
// new refresh token is stored before its access token is served.
func TestRefreshTokenOneRefreshForManyClients(t *testing.T) {
	rig, g := newU2MRig(t, wsemu.WithOAuthAccessLifetime(time.Hour), wsemu.WithOAuthRefreshLatency(50*time.Millisecond))
	s := NewRefreshToken(rig.config(), g)
	defer s.Stop()
	ctx := context.Background()
	get := func() []string {
		var wg sync.WaitGroup
		tokens := make([]string, 40)
		for i := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := s.Token(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				tokens[i] = tok.Value
			}()
		}
		wg.Wait()
		return tokens
	}
	first := get()
	for _, v := range first {
		if v != first[0] {
			t.Fatalf("clients got different tokens: %q vs %q", v, first[0])
		}
	}
	if st := rig.emu.OAuthStats(); st.Refreshes != 1 {
		t.Fatalf("refreshes = %d, want 1", st.Refreshes)
	}
	if saved := rig.lastSaved(); saved.Gen != 2 || saved.Access.Value != first[0] || !rig.emu.RefreshTokenLive(saved.RefreshToken) {
		t.Fatalf("the served token's grant was not stored first: %+v", saved)
	}

	// Forced refreshes: the token must be old enough (a quarter of its
	// life, at most minAge) first.
	var refreshed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Refresh("", 0) {
				mu.Lock()
				refreshed++
				mu.Unlock()
			}
			if _, err := s.Token(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st := rig.emu.OAuthStats()
	if refreshed != 1 || st.Refreshes != 2 || st.RefreshOverlaps != 0 || st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("forced: %d accepted, stats %+v; want 1 accepted, 2 refreshes, no overlap or reuse", refreshed, st)
	}
}

// A forced refresh within minAge of the last one is refused.
func TestRefreshTokenForcedRefreshIsRateLimited(t *testing.T) {
	rig, g := newU2MRig(t)
	s := NewRefreshToken(rig.config(), g)
	defer s.Stop()
	if _, err := s.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Refresh("", time.Minute) {
		t.Fatal("a forced refresh of a brand-new token was accepted")
	}
}

// Renewal happens in the background ahead of expiry, across many
// refreshes, with each refresh token used once.
func TestRefreshTokenRenewsBeforeExpiry(t *testing.T) {
	clock := Scaled{Start: time.Now(), Speed: 20}
	rig, g := newU2MRig(t, wsemu.WithOAuthAccessLifetime(20*time.Second), wsemu.WithClock(clock.Now))
	cfg := rig.config()
	cfg.Clock = clock
	s := NewRefreshToken(cfg, g)
	defer s.Stop()
	ctx := context.Background()
	deadline := time.Now().Add(6 * time.Second) // two minutes on the clock
	for time.Now().Before(deadline) {
		tok, err := s.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if left := tok.Expiry.Sub(clock.Now()); left < 2*time.Second {
			t.Fatalf("served a token with %s left", left)
		}
		if _, ok := rig.emu.Authenticate(tok.Value); !ok {
			t.Fatal("served a token the workspace does not accept")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := rig.emu.OAuthStats()
	if st.Refreshes < 6 || st.Reuses != 0 || st.RefreshOverlaps != 0 {
		t.Fatalf("stats %+v: want at least 6 refreshes in 2 minutes of 20 s tokens, no reuse or overlap", st)
	}
	if saved := rig.lastSaved(); !rig.emu.RefreshTokenLive(saved.RefreshToken) {
		t.Fatal("the stored refresh token is not the live one")
	}
}

// invalid_grant ends the login: needs login, and no retry loop.
func TestRefreshTokenRejectedNeedsLogin(t *testing.T) {
	rig, g := newU2MRig(t)
	rig.emu.RevokeOAuthFamily(g.RefreshToken)
	s := NewRefreshToken(rig.config(), g)
	defer s.Stop()
	_, err := s.Token(context.Background())
	if !errors.Is(err, ErrRefreshRejected) || !s.Status().NeedsLogin {
		t.Fatalf("err %v, status %+v", err, s.Status())
	}
	if _, err2 := s.Token(context.Background()); !errors.Is(err2, ErrRefreshRejected) {
		t.Fatal(err2)
	}
	if st := rig.emu.OAuthStats(); st.Refreshes != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A store that fails keeps the new grant in memory; it is stored first
// on the next try, and its refresh token is never presented again.
func TestRefreshTokenStoreFailureKeepsTheNewGrant(t *testing.T) {
	rig, g := newU2MRig(t)
	cfg := rig.config()
	fail := true
	var mu sync.Mutex
	persist := cfg.Persist
	cfg.Persist = func(ctx context.Context, g Grant) error {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f {
			return errors.New("keyring is locked")
		}
		return persist(ctx, g)
	}
	s := NewRefreshToken(cfg, g)
	defer s.Stop()
	if _, err := s.Token(context.Background()); err == nil {
		t.Fatal("served an access token whose refresh token was not stored")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// The retry waits out its backoff.
	var err error
	for range 50 {
		if _, err = s.Token(context.Background()); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	st := rig.emu.OAuthStats()
	if st.Refreshes != 1 || st.Reuses != 0 {
		t.Fatalf("stats %+v: the retry must store the grant it has, not refresh again", st)
	}
}

// A request that never left (connection refused) is not in flight: the
// record is cleared and the refresh token stays good.
func TestRefreshTokenUnsentRequestClearsTheRecord(t *testing.T) {
	rig, g := newU2MRig(t)
	cfg := rig.config()
	cfg.TokenURL = "http://127.0.0.1:1/oidc/v1/token"
	s := NewRefreshToken(cfg, g)
	defer s.Stop()
	if _, err := s.Token(context.Background()); err == nil || errors.Is(err, ErrRefreshUnknown) {
		t.Fatalf("err %v", err)
	}
	rig.mu.Lock()
	defer rig.mu.Unlock()
	if len(rig.inFl) != 2 || rig.inFl[0] != 1 || rig.inFl[1] != -1 {
		t.Fatalf("in-flight records %v, want [1 -1]", rig.inFl)
	}
	if s.Status().NeedsLogin {
		t.Fatal("an unsent refresh ended the login")
	}
}

// Revoke waits for a refresh in flight, then revokes at the revocation
// endpoint when there is one.
func TestRefreshTokenRevokeWithoutEndpoint(t *testing.T) {
	rig, g := newU2MRig(t)
	s := NewRefreshToken(rig.config(), g)
	ids, err := s.Revoke(context.Background())
	if err != nil || len(ids) != 0 {
		t.Fatalf("ids %v err %v", ids, err)
	}
	if _, err := s.Token(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
}

// A gateway's 502 or 504 may come after the server rotated the token: the
// source does not present it again.
func TestRefreshTokenGatewayErrorIsUnknown(t *testing.T) {
	for _, code := range []int{http.StatusBadGateway, http.StatusGatewayTimeout} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream", code)
		}))
		cfg := RefreshTokenConfig{Name: "test", TokenURL: srv.URL, ClientID: "databricks-cli"}
		s := NewRefreshToken(cfg, Grant{RefreshToken: "rt", Gen: 1})
		_, err := s.Token(context.Background())
		if !errors.Is(err, ErrRefreshUnknown) || !s.Status().NeedsLogin {
			t.Errorf("HTTP %d: %v", code, err)
		}
		s.Stop()
		srv.Close()
	}
}

// An answer without expires_in is taken for an hour, not for a token
// that has already expired (which would refresh in a loop).
func TestAccessLifetimeWithoutExpiresIn(t *testing.T) {
	if got := AccessLifetime(&oauth2.Token{AccessToken: "a"}); got != time.Hour {
		t.Fatalf("%s", got)
	}
	if got := AccessLifetime((&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"expires_in": 20.0})); got != 20*time.Second {
		t.Fatalf("%s", got)
	}
}
