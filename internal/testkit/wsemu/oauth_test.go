package wsemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	spID     = "6f1c9a3e-0b7d-4c55-9d0e-2a8f1b3c4d5e"
	spSecret = "dose-the-secret"
)

// startOAuth serves an emulator with alice signed in to the test browser
// and one service principal.
func startOAuth(t *testing.T, opts ...Option) (*Emulator, *httptest.Server) {
	t.Helper()
	emu, srv, _ := start(t, opts...)
	emu.AddOAuthUser(alice)
	emu.AddServicePrincipal(spID, spSecret)
	return emu, srv
}

// browser is a test user agent: it follows every redirect, the way a browser
// does after the user clicks "allow", and lands on a loopback callback that
// records what it was given.
type browser struct {
	callback *httptest.Server
	mu       sync.Mutex
	got      url.Values
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{}
	b.callback = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.got = r.URL.Query()
		b.mu.Unlock()
		_, _ = io.WriteString(w, "You may close this window.")
	}))
	t.Cleanup(b.callback.Close)
	return b
}

// redirectURI is where authorize sends the browser: the callback's
// 127.0.0.1:PORT address.
func (b *browser) redirectURI() string { return b.callback.URL + "/callback" }

// open follows authURL to the callback and returns the callback's query.
func (b *browser) open(t *testing.T, authURL string) url.Values {
	t.Helper()
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/callback" {
		t.Fatalf("browser ended at %s with %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got
}

func u2mConfig(base, redirectURI string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    OAuthCLIClientID,
		RedirectURL: redirectURI,
		Scopes:      []string{"offline_access", "all-apis"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + pathOIDCAuthorize,
			TokenURL:  base + pathOIDCToken,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// login runs a whole U2M login with x/oauth2 and PKCE S256.
func login(t *testing.T, cfg *oauth2.Config, b *browser) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	state := randomHex(8)
	got := b.open(t, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)))
	if got.Get("state") != state || got.Get("code") == "" {
		t.Fatalf("callback query %v", got)
	}
	tok, err := cfg.Exchange(t.Context(), got.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

// refresh forces one refresh_token grant for rt.
func refresh(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
}

// wantRetrieveError checks an x/oauth2 error against the token endpoint's
// exact status and body.
func wantRetrieveError(t *testing.T, err error, status int, body string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *oauth2.RetrieveError", err, err)
	}
	if re.Response.StatusCode != status || strings.TrimSpace(string(re.Body)) != body {
		t.Errorf("token endpoint answered %d %s, want %d %s", re.Response.StatusCode, re.Body, status, body)
	}
}

const bodyRefreshInvalid = `{"error":"invalid_grant","error_description":"Refresh token is invalid"}`
const bodyInvalidClient = `{"error":"invalid_client","error_description":"Client authentication failed"}`

func meAs(t *testing.T, srv *httptest.Server, path, token string) response {
	t.Helper()
	return call(t, srv, http.MethodGet, path, token, "")
}

func TestOAuthDiscovery(t *testing.T) {
	_, srv := startOAuth(t)
	meta := call(t, srv, http.MethodGet, pathHostMetadata, "", "")
	oidc, _ := meta.body["oidc_endpoint"].(string)
	// The SDK derives the discovery URL from oidc_endpoint exactly so.
	discoveryURL := strings.TrimRight(oidc, "/") + "/.well-known/oauth-authorization-server"
	if discoveryURL != srv.URL+pathOIDCDiscovery {
		t.Fatalf("host metadata points discovery at %s", discoveryURL)
	}
	r := call(t, srv, http.MethodGet, pathOIDCDiscovery, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("discovery: %d %s", r.status, r.raw)
	}
	want := map[string]string{
		"issuer":                 srv.URL + "/oidc",
		"authorization_endpoint": srv.URL + "/oidc/v1/authorize",
		"token_endpoint":         srv.URL + "/oidc/v1/token",
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %#v, want %q", k, r.body[k], v)
		}
	}
	if aud, _ := meta.body["token_federation_default_oidc_audiences"].([]any); len(aud) != 1 || aud[0] != r.body["token_endpoint"] {
		t.Errorf("audience %v is not the token endpoint", aud)
	}
	if m, _ := r.body["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", m)
	}
	if post := call(t, srv, http.MethodPost, pathOIDCDiscovery, "", ""); post.status != http.StatusMethodNotAllowed {
		t.Errorf("POST discovery: %d", post.status)
	}
}

func TestOAuthU2MLogin(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthAccessLifetime(20*time.Second))
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token %+v", tok)
	}
	if in := tok.Extra("expires_in"); in != 20.0 {
		t.Errorf("expires_in %v, want 20", in)
	}
	if scope := tok.Extra("scope"); scope != "offline_access all-apis" {
		t.Errorf("scope %v", scope)
	}

	// The access token works on every existing endpoint.
	me := meAs(t, srv, pathMe, tok.AccessToken)
	if me.status != http.StatusOK || me.body["userName"] != alice {
		t.Errorf("Me with U2M token: %d %s", me.status, me.raw)
	}
	value, _ := createToken(t, srv, tok.AccessToken, `{"lifetime_seconds":60}`)
	if u, ok := emu.Authenticate(value); !ok || u != alice {
		t.Errorf("PAT minted with OAuth token belongs to %q", u)
	}
	if u, ok := emu.Authenticate(tok.AccessToken); !ok || u != alice {
		t.Errorf("Authenticate(access token) = %q, %v", u, ok)
	}

	// Refresh rotates: a new refresh token each time, and the old one is dead.
	next, err := refresh(t.Context(), cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", next)
	}
	if emu.RefreshTokenLive(tok.RefreshToken) || !emu.RefreshTokenLive(next.RefreshToken) {
		t.Error("RefreshTokenLive disagrees with rotation")
	}
	if s := emu.OAuthStats(); s.CodeExchanges != 1 || s.Refreshes != 1 || s.Reuses != 0 || s.FamiliesRevoked != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOAuthRefreshReuseRevokesFamily(t *testing.T) {
	emu, srv := startOAuth(t)
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	first := login(t, cfg, b)
	other := login(t, cfg, b) // a second login of the same user: another family

	chain := []*oauth2.Token{first}
	for range 3 {
		next, err := refresh(t.Context(), cfg, chain[len(chain)-1].RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", len(chain), err)
		}
		chain = append(chain, next)
	}
	for _, tok := range chain {
		if r := meAs(t, srv, pathMe, tok.AccessToken); r.status != http.StatusOK {
			t.Fatalf("access token of an unrevoked family refused: %d", r.status)
		}
	}

	// Presenting a superseded refresh token is theft: the family dies.
	_, err := refresh(t.Context(), cfg, chain[1].RefreshToken)
	wantRetrieveError(t, err, http.StatusBadRequest, bodyRefreshInvalid)
	_, err = refresh(t.Context(), cfg, chain[len(chain)-1].RefreshToken)
	wantRetrieveError(t, err, http.StatusBadRequest, bodyRefreshInvalid)
	for i, tok := range chain {
		r := meAs(t, srv, pathMe, tok.AccessToken)
		wantError(t, r, http.StatusForbidden, 403.0, msgInvalidToken)
		if t.Failed() {
			t.Fatalf("access token %d survived its family's revocation", i)
		}
	}
	// Another login is unaffected.
	if r := meAs(t, srv, pathMe, other.AccessToken); r.status != http.StatusOK {
		t.Errorf("other family's access token refused: %d", r.status)
	}
	if _, err := refresh(t.Context(), cfg, other.RefreshToken); err != nil {
		t.Errorf("other family's refresh: %v", err)
	}
	// An unknown refresh token gets the same answer, and counts no reuse.
	_, err = refresh(t.Context(), cfg, "doau-not-a-token")
	wantRetrieveError(t, err, http.StatusBadRequest, bodyRefreshInvalid)

	s := emu.OAuthStats()
	if s.Refreshes != 4 || s.Reuses != 1 || s.FamiliesRevoked != 1 || s.InvalidGrants != 3 || s.RefreshOverlaps != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestOAuthAccessTokenLifetime(t *testing.T) {
	clock := newFakeClock()
	_, srv := startOAuth(t, WithClock(clock.Now), WithOAuthAccessLifetime(20*time.Second))
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)
	clock.Advance(19 * time.Second)
	if r := meAs(t, srv, pathMe, tok.AccessToken); r.status != http.StatusOK {
		t.Fatalf("Me at 19 s: %d", r.status)
	}
	clock.Advance(time.Second)
	wantError(t, meAs(t, srv, pathMe, tok.AccessToken), http.StatusForbidden, 403.0, msgInvalidToken)
	// The refresh token outlives its access token.
	next, err := refresh(t.Context(), cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after expiry: %v", err)
	}
	if r := meAs(t, srv, pathMe, next.AccessToken); r.status != http.StatusOK {
		t.Errorf("Me with refreshed token: %d", r.status)
	}
}

func TestOAuthOverlappingRefreshes(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthRefreshLatency(500*time.Millisecond))
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)

	// Serialised refreshes never overlap.
	rt := tok.RefreshToken
	for range 2 {
		next, err := refresh(t.Context(), cfg, rt)
		if err != nil {
			t.Fatal(err)
		}
		rt = next.RefreshToken
	}
	if s := emu.OAuthStats(); s.RefreshOverlaps != 0 || s.PeakRefreshesInFlight != 1 {
		t.Fatalf("serialised: %+v", s)
	}

	// Two careless processes refreshing the same token at once: one wins,
	// the other presents a superseded token and logs the user out.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = refresh(t.Context(), cfg, rt) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("want exactly one refresh to fail: %v, %v", errs[0], errs[1])
	}
	s := emu.OAuthStats()
	if s.RefreshOverlaps != 1 || s.PeakRefreshesInFlight != 2 || s.Reuses != 1 || s.FamiliesRevoked != 1 {
		t.Errorf("concurrent: %+v", s)
	}
}

func TestOAuthAuthorizeErrors(t *testing.T) {
	_, srv := startOAuth(t)
	// A redirect_uri with no listener: the test client stops at the 302.
	const cb = "http://localhost:8020"
	good := url.Values{
		"client_id": {OAuthCLIClientID}, "redirect_uri": {cb}, "response_type": {"code"},
		"state": {"xyz"}, "scope": {"offline_access all-apis"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name   string
		change map[string]string // "" value deletes the parameter
		status int
		// for 400: the JSON error; for 302: the error query parameter.
		wantErr string
	}{
		{"approves at once", nil, http.StatusFound, ""},
		{"127.0.0.1 with a path", map[string]string{"redirect_uri": "http://127.0.0.1:8040/cb"}, http.StatusFound, ""},
		{"sql scope", map[string]string{"scope": "sql offline_access"}, http.StatusFound, ""},
		{"unknown client", map[string]string{"client_id": "evil"}, http.StatusBadRequest, "invalid_request"},
		{"no client", map[string]string{"client_id": ""}, http.StatusBadRequest, "invalid_request"},
		{"https redirect", map[string]string{"redirect_uri": "https://localhost:8020"}, http.StatusBadRequest, "invalid_request"},
		{"remote redirect", map[string]string{"redirect_uri": "http://evil.example:8020"}, http.StatusBadRequest, "invalid_request"},
		{"redirect without port", map[string]string{"redirect_uri": "http://localhost/"}, http.StatusBadRequest, "invalid_request"},
		{"implicit flow", map[string]string{"response_type": "token"}, http.StatusFound, "unsupported_response_type"},
		{"no PKCE", map[string]string{"code_challenge": "", "code_challenge_method": ""}, http.StatusFound, "invalid_request"},
		{"plain PKCE", map[string]string{"code_challenge_method": "plain"}, http.StatusFound, "invalid_request"},
		{"malformed challenge", map[string]string{"code_challenge": "short"}, http.StatusFound, "invalid_request"},
		{"unknown scope", map[string]string{"scope": "all-apis admin"}, http.StatusFound, "invalid_scope"},
		{"no scope", map[string]string{"scope": ""}, http.StatusFound, "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range good {
				q[k] = v
			}
			for k, v := range tc.change {
				if v == "" {
					q.Del(k)
				} else {
					q.Set(k, v)
				}
			}
			resp, err := noFollow.Get(srv.URL + pathOIDCAuthorize + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, raw)
			}
			if tc.status == http.StatusBadRequest {
				var body oauthError
				if err := json.Unmarshal(raw, &body); err != nil || body.Error != tc.wantErr || body.ErrorDescription == "" {
					t.Errorf("body %s", raw)
				}
				return
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			wantPrefix := q.Get("redirect_uri")
			if !strings.HasPrefix(loc.String(), wantPrefix) || loc.Query().Get("state") != "xyz" {
				t.Errorf("Location %s", loc)
			}
			if got := loc.Query().Get("error"); got != tc.wantErr {
				t.Errorf("error %q, want %q (Location %s)", got, tc.wantErr, loc)
			}
			if (tc.wantErr == "") != (loc.Query().Get("code") != "") {
				t.Errorf("code present iff success: %s", loc)
			}
		})
	}

	t.Run("nobody signed in", func(t *testing.T) {
		_, srv, _ := start(t) // no AddOAuthUser
		resp, err := noFollow.Get(srv.URL + pathOIDCAuthorize + "?" + good.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "access_denied" {
			t.Errorf("%d %s", resp.StatusCode, loc)
		}
	})
}

// authorizeCode gets a code without following the redirect.
func authorizeCode(t *testing.T, base, path, redirectURI, verifier string) string {
	t.Helper()
	cfg := u2mConfig(base, redirectURI)
	cfg.Endpoint.AuthURL = base + path
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestOAuthCodeExchangeErrors(t *testing.T) {
	const cb = "http://localhost:8020"
	badCode := `{"error":"invalid_grant","error_description":"Authorization code is invalid"}`

	t.Run("wrong verifier burns the code", func(t *testing.T) {
		_, srv := startOAuth(t)
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		cfg := u2mConfig(srv.URL, cb)
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantRetrieveError(t, err, 400, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
		_, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 400, badCode)
	})
	t.Run("no verifier", func(t *testing.T) {
		_, srv := startOAuth(t)
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, oauth2.GenerateVerifier())
		_, err := u2mConfig(srv.URL, cb).Exchange(t.Context(), code)
		wantRetrieveError(t, err, 400, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
	})
	t.Run("reused code revokes what it issued", func(t *testing.T) {
		emu, srv := startOAuth(t)
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		cfg := u2mConfig(srv.URL, cb)
		tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 400, badCode)
		wantError(t, meAs(t, srv, pathMe, tok.AccessToken), 403, 403.0, msgInvalidToken)
		_, err = refresh(t.Context(), cfg, tok.RefreshToken)
		wantRetrieveError(t, err, 400, bodyRefreshInvalid)
		if s := emu.OAuthStats(); s.CodeReuses != 1 || s.FamiliesRevoked != 1 || s.CodeExchanges != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		clock := newFakeClock()
		_, srv := startOAuth(t, WithClock(clock.Now))
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		clock.Advance(authorizationCodeLifetime)
		_, err := u2mConfig(srv.URL, cb).Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 400, `{"error":"invalid_grant","error_description":"Authorization code has expired"}`)
	})
	t.Run("redirect_uri mismatch", func(t *testing.T) {
		_, srv := startOAuth(t)
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		_, err := u2mConfig(srv.URL, "http://localhost:8021").Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 400, `{"error":"invalid_grant","error_description":"redirect_uri does not match the authorization request"}`)
	})
	t.Run("other client", func(t *testing.T) {
		emu, srv := startOAuth(t)
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		cfg := u2mConfig(srv.URL, cb)
		cfg.ClientID = "someone-else"
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 401, bodyInvalidClient)
		if s := emu.OAuthStats(); s.InvalidClients != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("workspace code at account level", func(t *testing.T) {
		emu, srv := startOAuth(t)
		v := oauth2.GenerateVerifier()
		code := authorizeCode(t, srv.URL, pathOIDCAuthorize, cb, v)
		cfg := u2mConfig(srv.URL, cb)
		cfg.Endpoint.TokenURL = srv.URL + AccountOIDCPath(emu.AccountID(), "token")
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v))
		wantRetrieveError(t, err, 400, badCode)
	})
}

// postToken sends a raw form to the token endpoint.
func postToken(t *testing.T, srv *httptest.Server, path string, form url.Values, user, pass string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(raw)), resp.Header
}

func TestOAuthTokenEndpointErrors(t *testing.T) {
	_, srv := startOAuth(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis"}}
	tests := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		body       string
	}{
		{"wrong secret", cc, spID, "nope", 401, bodyInvalidClient},
		{"unknown principal", cc, "who", spSecret, 401, bodyInvalidClient},
		{"secret in the form, not Basic", url.Values{"grant_type": {"client_credentials"}, "client_id": {spID}, "client_secret": {spSecret}}, "", "", 401, bodyInvalidClient},
		{"no client at all", cc, "", "", 401, bodyInvalidClient},
		{"public client cannot use client_credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {OAuthCLIClientID}}, "", "", 401, bodyInvalidClient},
		{"offline_access for a machine", url.Values{"grant_type": {"client_credentials"}, "scope": {"all-apis offline_access"}}, spID, spSecret, 400,
			`{"error":"invalid_scope","error_description":"Unsupported scope: offline_access"}`},
		{"refresh by a service principal", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, spID, spSecret, 401, bodyInvalidClient},
		{"refresh without refresh_token", url.Values{"grant_type": {"refresh_token"}, "client_id": {OAuthCLIClientID}}, "", "", 400, bodyRefreshInvalid},
		{"unsupported grant", url.Values{"grant_type": {"password"}}, "", "", 400,
			`{"error":"unsupported_grant_type","error_description":"Unsupported grant_type: password"}`},
		{"no grant", url.Values{}, "", "", 400, `{"error":"invalid_request","error_description":"grant_type is required"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := postToken(t, srv, pathOIDCToken, tc.form, tc.user, tc.pass)
			if status != tc.status || body != tc.body {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Error("token endpoint answer without Cache-Control: no-store")
			}
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if r := call(t, srv, http.MethodGet, pathOIDCToken, "", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET token: %d %s", r.status, r.raw)
	}
	if r := call(t, srv, http.MethodGet, "/oidc/v1/nope", "", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown oidc path: %d", r.status)
	}
}

func TestOAuthM2M(t *testing.T) {
	clock := newFakeClock()
	emu, srv := startOAuth(t, WithClock(clock.Now), WithOAuthAccessLifetime(time.Minute))
	cfg := &clientcredentials.Config{
		ClientID: spID, ClientSecret: spSecret, TokenURL: srv.URL + pathOIDCToken,
		Scopes: []string{"all-apis"}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cfg.Token(t.Context())
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	if tok.RefreshToken != "" || tok.TokenType != "Bearer" || tok.Extra("expires_in") != 60.0 {
		t.Errorf("token %+v expires_in %v", tok, tok.Extra("expires_in"))
	}
	me := meAs(t, srv, pathMe, tok.AccessToken)
	if me.status != 200 || me.body["userName"] != spID {
		t.Errorf("Me as service principal: %d %s", me.status, me.raw)
	}
	if emails, _ := me.body["emails"].([]any); len(emails) != 0 {
		t.Errorf("service principal has emails %v", emails)
	}
	// A PAT it mints is its own.
	pat, _ := createToken(t, srv, tok.AccessToken, `{"lifetime_seconds":60}`)
	if r := meAs(t, srv, pathMe, pat); r.body["userName"] != spID {
		t.Errorf("Me with the principal's PAT: %s", r.raw)
	}
	clock.Advance(time.Minute)
	wantError(t, meAs(t, srv, pathMe, tok.AccessToken), 403, 403.0, msgInvalidToken)

	cfg.ClientSecret = "wrong"
	_, err = cfg.Token(t.Context())
	wantRetrieveError(t, err, 401, bodyInvalidClient)
	// A new secret replaces the old one.
	emu.AddServicePrincipal(spID, "rotated")
	cfg.ClientSecret = spSecret
	_, err = cfg.Token(t.Context())
	wantRetrieveError(t, err, 401, bodyInvalidClient)
	cfg.ClientSecret = "rotated"
	if _, err := cfg.Token(t.Context()); err != nil {
		t.Errorf("rotated secret: %v", err)
	}
	if s := emu.OAuthStats(); s.ClientCredentials != 2 || s.InvalidClients != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestOAuthAccountLevel(t *testing.T) {
	const account = "0d26daa6-5e44-4c97-a497-ef015f91254a"
	emu, srv := startOAuth(t, WithAccountID(account))
	if emu.AccountID() != account {
		t.Fatalf("AccountID %q", emu.AccountID())
	}
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	cfg.Endpoint.AuthURL = srv.URL + "/oidc/accounts/" + account + "/v1/authorize"
	cfg.Endpoint.TokenURL = srv.URL + "/oidc/accounts/" + account + "/v1/token"
	tok := login(t, cfg, b)
	accountMe := "/api/2.0/accounts/" + account + "/scim/v2/Me"
	if r := meAs(t, srv, accountMe, tok.AccessToken); r.status != 200 || r.body["userName"] != alice {
		t.Errorf("account Me: %d %s", r.status, r.raw)
	}
	// Account tokens are not workspace tokens, and the other way round.
	wantError(t, meAs(t, srv, pathMe, tok.AccessToken), 403, 403.0, msgInvalidToken)
	ws := login(t, u2mConfig(srv.URL, b.redirectURI()), b)
	wantError(t, meAs(t, srv, accountMe, ws.AccessToken), 403, 403.0, msgInvalidToken)
	_, _, pat := start(t)
	wantError(t, meAs(t, srv, accountMe, pat), 403, 403.0, msgInvalidToken)
	wantError(t, meAs(t, srv, accountMe, ""), 401, 401.0, msgNoCredential)

	// Refresh goes to the account's token endpoint only.
	if _, err := refresh(t.Context(), u2mConfig(srv.URL, b.redirectURI()), tok.RefreshToken); err == nil {
		t.Error("account refresh token accepted by the workspace token endpoint")
	} else {
		wantRetrieveError(t, err, 400, bodyRefreshInvalid)
	}
	if _, err := refresh(t.Context(), cfg, tok.RefreshToken); err != nil {
		t.Errorf("account refresh: %v", err)
	}

	// M2M at account level.
	m2m := &clientcredentials.Config{ClientID: spID, ClientSecret: spSecret, TokenURL: cfg.Endpoint.TokenURL,
		Scopes: []string{"all-apis"}, AuthStyle: oauth2.AuthStyleInHeader}
	mt, err := m2m.Token(t.Context())
	if err != nil {
		t.Fatalf("account client_credentials: %v", err)
	}
	if r := meAs(t, srv, accountMe, mt.AccessToken); r.body["userName"] != spID {
		t.Errorf("account Me as principal: %s", r.raw)
	}

	// No discovery at account level, and other accounts do not exist here.
	for _, p := range []string{
		"/oidc/accounts/" + account + "/.well-known/oauth-authorization-server",
		"/oidc/accounts/" + strings.Repeat("0", 8) + "/v1/token",
		"/api/2.0/accounts/" + account + "/scim/v2/Users",
	} {
		tokenFor := ""
		if strings.HasPrefix(p, "/api/") {
			tokenFor = tok.AccessToken
		}
		wantError(t, call(t, srv, http.MethodGet, p, tokenFor, ""), 404, "ENDPOINT_NOT_FOUND", "")
	}
}

func TestOAuthExpiresInRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{{1500 * time.Millisecond, 2}, {20 * time.Second, 20}, {0, 3600}, {-time.Second, 3600}} {
		if got := New(WithOAuthAccessLifetime(tc.d)).expiresIn(); got != tc.want {
			t.Errorf("lifetime %s: expires_in %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestOAuthRevokeFamily(t *testing.T) {
	emu, srv := startOAuth(t)
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)
	if !emu.RevokeOAuthFamily(tok.RefreshToken) || emu.RevokeOAuthFamily(tok.AccessToken) {
		t.Fatal("RevokeOAuthFamily: want true once, then false")
	}
	wantError(t, meAs(t, srv, pathMe, tok.AccessToken), 403, 403.0, msgInvalidToken)
	_, err := refresh(t.Context(), cfg, tok.RefreshToken)
	wantRetrieveError(t, err, 400, bodyRefreshInvalid)
	if s := emu.OAuthStats(); s.FamiliesRevoked != 1 || s.Reuses != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A refresh the client abandons mid-flight still rotates the token, as on a
// real server: the client is left holding a superseded refresh token, and
// presenting it logs the user out. This is the hazard a daemon killed during
// a refresh faces.
func TestOAuthAbandonedRefreshStillRotates(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthRefreshLatency(300*time.Millisecond))
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := refresh(ctx, cfg, tok.RefreshToken); err == nil {
		t.Fatal("abandoned refresh succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for emu.RefreshTokenLive(tok.RefreshToken) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if emu.RefreshTokenLive(tok.RefreshToken) {
		t.Fatal("abandoned refresh did not rotate the token")
	}
	_, err := refresh(t.Context(), cfg, tok.RefreshToken)
	wantRetrieveError(t, err, 400, bodyRefreshInvalid)
	if s := emu.OAuthStats(); s.Refreshes != 1 || s.Reuses != 1 || s.FamiliesRevoked != 1 {
		t.Errorf("stats %+v", s)
	}
}

// Forty clients that share one login and serialise their refreshes (what
// the daemon must do) cost no overlap and no reuse, while API calls with
// the freshest access token keep working throughout.
func TestOAuthSerialisedConcurrentClients(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthRefreshLatency(5*time.Millisecond))
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	var mu sync.Mutex
	cur := login(t, cfg, b)
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			mu.Lock()
			next, err := refresh(t.Context(), cfg, cur.RefreshToken)
			if err == nil {
				cur = next
			}
			access := cur.AccessToken
			mu.Unlock()
			if err != nil {
				t.Errorf("refresh: %v", err)
				return
			}
			// Not meAs: its t.Fatal must not run off the test goroutine.
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+pathMe, nil)
			req.Header.Set("Authorization", "Bearer "+access)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Errorf("Me: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("Me: %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	s := emu.OAuthStats()
	if s.Refreshes != 40 || s.RefreshOverlaps != 0 || s.PeakRefreshesInFlight != 1 || s.Reuses != 0 || s.FamiliesRevoked != 0 {
		t.Errorf("stats %+v", s)
	}
}
