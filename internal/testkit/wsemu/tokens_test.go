package wsemu

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenLifecycle(t *testing.T) {
	clock := newFakeClock()
	emu, srv, pat := start(t, WithClock(clock.Now))
	nowMs := clock.Now().UnixMilli()

	value, info := createToken(t, srv, pat, `{"lifetime_seconds":3600,"comment":"minted","scopes":["sql","authentication"]}`)
	if !tokenValueRE.MatchString(value) {
		t.Errorf("token value %q does not look like dapi+32 hex", value)
	}
	if !tokenIDRE.MatchString(info.TokenID) {
		t.Errorf("token id %q is not 64 hex chars", info.TokenID)
	}
	if info.CreationTime != nowMs || info.ExpiryTime != nowMs+3600_000 {
		t.Errorf("times = %d..%d, want %d..%d (epoch ms)", info.CreationTime, info.ExpiryTime, nowMs, nowMs+3600_000)
	}
	if info.Comment != "minted" || !slices.Equal(info.Scopes, []string{"sql", "authentication"}) {
		t.Errorf("info = %+v", info)
	}
	if got := call(t, srv, http.MethodGet, pathMe, value, ""); got.status != http.StatusOK || got.body["userName"] != alice {
		t.Errorf("minted token on Me: %d %s", got.status, got.raw)
	}

	r := call(t, srv, http.MethodGet, pathTokenList, pat, "")
	if strings.Contains(string(r.raw), "dapi") || strings.Contains(string(r.raw), "token_value") {
		t.Errorf("list leaks token values: %s", r.raw)
	}
	infos := listTokens(t, srv, pat)
	if len(infos) != 2 || infos[0].Comment != "root" || infos[0].ExpiryTime != -1 || infos[1].TokenID != info.TokenID {
		t.Fatalf("list = %+v", infos)
	}

	del := call(t, srv, http.MethodPost, pathTokenDelete, pat, `{"token_id":"`+info.TokenID+`"}`)
	if del.status != http.StatusOK || len(del.body) != 0 {
		t.Fatalf("delete: %d %s", del.status, del.raw)
	}
	if hasToken(listTokens(t, srv, pat), info.TokenID) {
		t.Error("deleted token still listed")
	}
	wantError(t, call(t, srv, http.MethodGet, pathMe, value, ""), 403, 403.0, "Invalid access token.")
	wantError(t, call(t, srv, http.MethodPost, pathTokenDelete, pat, `{"token_id":"`+info.TokenID+`"}`),
		404, "RESOURCE_DOES_NOT_EXIST", "")
	if _, ok := emu.Authenticate(value); ok {
		t.Error("Authenticate accepts a deleted token")
	}
}

func TestCreateDefaultLifetime(t *testing.T) {
	tests := []struct {
		name       string
		opts       []Option
		body       string
		wantExpiry time.Duration // -1 = never
	}{
		{name: "no body gets 730 days", wantExpiry: 730 * 24 * time.Hour},
		{name: "explicit zero is unset", body: `{"lifetime_seconds":0}`, wantExpiry: 730 * 24 * time.Hour},
		{name: "admin lowered max", opts: []Option{WithMaxLifetime(7 * 24 * time.Hour)}, body: `{}`, wantExpiry: 7 * 24 * time.Hour},
		{name: "no max never expires", opts: []Option{WithMaxLifetime(0)}, body: `{"comment":"x"}`, wantExpiry: -1},
		{name: "exactly the max", body: `{"lifetime_seconds":63072000}`, wantExpiry: 730 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv, pat := start(t, tc.opts...)
			_, info := createToken(t, srv, pat, tc.body)
			want := int64(-1)
			if tc.wantExpiry != -1 {
				want = info.CreationTime + tc.wantExpiry.Milliseconds()
			}
			if info.ExpiryTime != want {
				t.Errorf("expiry_time %d, want %d", info.ExpiryTime, want)
			}
		})
	}
}

func TestUsersAreIsolated(t *testing.T) {
	emu, srv, alicePAT := start(t)
	bobPAT := emu.AddUser("bob@example.com")
	_, aliceTok := createToken(t, srv, alicePAT, `{"lifetime_seconds":60}`)

	if hasToken(listTokens(t, srv, bobPAT), aliceTok.TokenID) {
		t.Error("bob sees alice's token")
	}
	wantError(t, call(t, srv, http.MethodPost, pathTokenDelete, bobPAT, `{"token_id":"`+aliceTok.TokenID+`"}`),
		404, "RESOURCE_DOES_NOT_EXIST", "")
	if !hasToken(listTokens(t, srv, alicePAT), aliceTok.TokenID) {
		t.Error("bob deleted alice's token")
	}
	if got := call(t, srv, http.MethodGet, pathMe, bobPAT, ""); got.body["userName"] != "bob@example.com" {
		t.Errorf("bob's Me = %s", got.raw)
	}
}

func TestNetrcBasicAuth(t *testing.T) {
	_, srv, pat := start(t)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("token:"+pat))
	if r := callAuth(t, srv, http.MethodGet, pathMe, auth, ""); r.status != http.StatusOK {
		t.Errorf("curl -n style Basic token:<PAT> = %d %s", r.status, r.raw)
	}
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("token:dapinope"))
	wantError(t, callAuth(t, srv, http.MethodGet, pathMe, bad, ""), 403, 403.0, "Invalid access token.")
}

func TestQuota(t *testing.T) {
	emu, srv, pat := start(t)
	// The root PAT is live too, so 599 creates reach the 600 limit.
	var last TokenInfo
	for i := range 599 {
		_, last = createToken(t, srv, pat, `{"lifetime_seconds":3600,"comment":"n`+string(rune('a'+i%26))+`"}`)
	}
	if n := len(emu.LiveTokens(alice)); n != 600 {
		t.Fatalf("live tokens %d, want 600", n)
	}
	wantError(t, call(t, srv, http.MethodPost, pathTokenCreate, pat, `{"lifetime_seconds":60}`),
		400, "QUOTA_EXCEEDED", "")

	// The quota is per user.
	bob := emu.AddUser("bob@example.com")
	createToken(t, srv, bob, `{}`)

	if r := call(t, srv, http.MethodPost, pathTokenDelete, pat, `{"token_id":"`+last.TokenID+`"}`); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	createToken(t, srv, pat, `{"lifetime_seconds":60}`)
	wantError(t, call(t, srv, http.MethodPost, pathTokenCreate, pat, `{}`), 400, "QUOTA_EXCEEDED", "")
}

func TestQuotaUnderConcurrency(t *testing.T) {
	emu, srv, pat := start(t, WithQuota(20))
	var wg sync.WaitGroup
	statuses := make(chan int, 50)
	for range 50 {
		wg.Go(func() {
			statuses <- call(t, srv, http.MethodPost, pathTokenCreate, pat, `{"lifetime_seconds":60}`).status
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 19 || len(emu.LiveTokens(alice)) != 20 {
		t.Errorf("%d creates succeeded, %d live; want 19 and 20", ok, len(emu.LiveTokens(alice)))
	}
}

func TestFixtureHelpers(t *testing.T) {
	emu := New()
	pat := emu.AddUser(alice)
	if !tokenValueRE.MatchString(pat) {
		t.Errorf("AddUser PAT %q", pat)
	}
	if name, ok := emu.Authenticate(pat); !ok || name != alice {
		t.Errorf("Authenticate(root) = %q, %v", name, ok)
	}
	v, info := emu.CreatePAT("carol@example.com", "ci", time.Hour, []string{"sql"})
	if name, ok := emu.Authenticate(v); !ok || name != "carol@example.com" {
		t.Errorf("Authenticate(CreatePAT) = %q, %v", name, ok)
	}
	if live := emu.LiveTokens("carol@example.com"); len(live) != 1 || live[0].TokenID != info.TokenID {
		t.Errorf("LiveTokens = %+v", live)
	}
	expired, _ := emu.CreatePAT(alice, "stale", -time.Second, nil)
	if _, ok := emu.Authenticate(expired); ok {
		t.Error("negative lifetime token authenticates")
	}
	if !emu.RevokeToken(v) || emu.RevokeToken(v) {
		t.Error("RevokeToken should succeed once")
	}
	if _, ok := emu.Authenticate(v); ok {
		t.Error("revoked token authenticates")
	}
	if _, ok := emu.Authenticate(""); ok {
		t.Error("empty token authenticates")
	}
}
