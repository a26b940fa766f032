package wsemu

import (
	"net/http"
	"testing"
	"time"
)

func TestTokenExpiresOnClock(t *testing.T) {
	clock := newFakeClock()
	emu, srv, pat := start(t, WithClock(clock.Now))
	value, info := createToken(t, srv, pat, `{"lifetime_seconds":10,"comment":"short"}`)

	clock.Advance(9 * time.Second)
	if r := call(t, srv, http.MethodGet, pathMe, value, ""); r.status != http.StatusOK {
		t.Fatalf("at +9s: %d %s", r.status, r.raw)
	}
	if !hasToken(listTokens(t, srv, pat), info.TokenID) {
		t.Error("at +9s: token missing from list")
	}

	clock.Advance(2 * time.Second)
	r := call(t, srv, http.MethodGet, pathMe, value, "")
	wantError(t, r, 403, 403.0, "Invalid access token.")
	if got := r.header.Get("X-Databricks-Reason-Phrase"); got != "Invalid access token." {
		t.Errorf("reason phrase %q", got)
	}
	if hasToken(listTokens(t, srv, pat), info.TokenID) {
		t.Error("at +11s: expired token still listed")
	}
	if hasToken(emu.LiveTokens(alice), info.TokenID) {
		t.Error("at +11s: expired token in LiveTokens")
	}
	if _, ok := emu.Authenticate(value); ok {
		t.Error("at +11s: Authenticate accepts expired token")
	}
	// Expired tokens are gone, so they no longer count against the quota.
	if n := len(emu.LiveTokens(alice)); n != 1 {
		t.Errorf("live tokens %d, want only root", n)
	}
}

func TestUnusedTokensAreRevoked(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		useEvery  time.Duration // 0 = never used in between
		wantValid bool
	}{
		{name: "idle 91 days", wantValid: false},
		{name: "used every 60 days", useEvery: 60 * 24 * time.Hour, wantValid: true},
		{name: "revocation disabled", opts: []Option{WithUnusedRevocation(0)}, wantValid: true},
		{name: "shorter policy", opts: []Option{WithUnusedRevocation(24 * time.Hour)}, useEvery: 23 * time.Hour, wantValid: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			emu := New(append([]Option{WithClock(clock.Now)}, tc.opts...)...)
			pat := emu.AddUser(alice)
			end := clock.Now().Add(91 * 24 * time.Hour)
			if tc.useEvery > 0 {
				for clock.Now().Add(tc.useEvery).Before(end) {
					clock.Advance(tc.useEvery)
					if _, ok := emu.Authenticate(pat); !ok {
						t.Fatalf("PAT rejected at %s while in use", clock.Now())
					}
				}
			}
			clock.Advance(end.Sub(clock.Now()))
			if _, ok := emu.Authenticate(pat); ok != tc.wantValid {
				t.Errorf("after 91 days valid = %v, want %v", ok, tc.wantValid)
			}
		})
	}
}
