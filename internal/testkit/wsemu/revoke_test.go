package wsemu

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// revoke posts an RFC 7009 revocation request as the CLI's client.
func revoke(t *testing.T, srv *httptest.Server, form url.Values) int {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.URL+pathOIDCRevoke, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOAuthRevocation(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthRevocation())
	r := call(t, srv, http.MethodGet, pathOIDCDiscovery, "", "")
	if r.body["revocation_endpoint"] != srv.URL+pathOIDCRevoke {
		t.Fatalf("revocation_endpoint = %#v", r.body["revocation_endpoint"])
	}
	b := newBrowser(t)
	cfg := u2mConfig(srv.URL, b.redirectURI())
	tok := login(t, cfg, b)

	// Unknown tokens and other clients' attempts change nothing; unknown
	// ones still get 200 (RFC 7009 §2.2).
	if got := revoke(t, srv, url.Values{"token": {"doau-unknown"}, "client_id": {OAuthCLIClientID}}); got != http.StatusOK {
		t.Errorf("unknown token: %d, want 200", got)
	}
	if got := revoke(t, srv, url.Values{"token": {tok.RefreshToken}, "client_id": {"someone-else"}}); got != http.StatusUnauthorized {
		t.Errorf("other client: %d, want 401", got)
	}
	if got := revoke(t, srv, url.Values{"client_id": {OAuthCLIClientID}}); got != http.StatusBadRequest {
		t.Errorf("no token: %d, want 400", got)
	}
	if !emu.RefreshTokenLive(tok.RefreshToken) {
		t.Fatal("the refresh token died before it was revoked")
	}

	got := revoke(t, srv, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {OAuthCLIClientID}})
	if got != http.StatusOK {
		t.Fatalf("revoke: %d", got)
	}
	if emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("refresh token still live after revocation")
	}
	if me := meAs(t, srv, pathMe, tok.AccessToken); me.status == http.StatusOK {
		t.Error("the family's access token still works after its refresh token was revoked")
	}
	_, err := refresh(t.Context(), cfg, tok.RefreshToken)
	wantRetrieveError(t, err, http.StatusBadRequest, bodyRefreshInvalid)
	if s := emu.OAuthStats(); s.Revocations != 1 || s.FamiliesRevoked != 1 {
		t.Errorf("stats %+v", s)
	}
	// Revoking again is still 200.
	if got := revoke(t, srv, url.Values{"token": {tok.RefreshToken}, "client_id": {OAuthCLIClientID}}); got != http.StatusOK {
		t.Errorf("second revoke: %d", got)
	}
}

func TestOAuthRevokeAccessTokenOnly(t *testing.T) {
	emu, srv := startOAuth(t, WithOAuthRevocation())
	b := newBrowser(t)
	tok := login(t, u2mConfig(srv.URL, b.redirectURI()), b)
	if got := revoke(t, srv, url.Values{"token": {tok.AccessToken}, "client_id": {OAuthCLIClientID}}); got != http.StatusOK {
		t.Fatalf("revoke: %d", got)
	}
	if me := meAs(t, srv, pathMe, tok.AccessToken); me.status == http.StatusOK {
		t.Error("access token still works")
	}
	if !emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("revoking an access token took its refresh token too")
	}
}

// Without the option the endpoint does not exist and discovery names none,
// as on real workspaces today.
func TestOAuthNoRevocationByDefault(t *testing.T) {
	_, srv := startOAuth(t)
	r := call(t, srv, http.MethodGet, pathOIDCDiscovery, "", "")
	if _, ok := r.body["revocation_endpoint"]; ok || strings.Contains(string(r.raw), "revoke") {
		t.Errorf("discovery names revocation: %s", r.raw)
	}
	if got := revoke(t, srv, url.Values{"token": {"x"}, "client_id": {OAuthCLIClientID}}); got != http.StatusNotFound {
		t.Errorf("revoke without the option: %d, want 404", got)
	}
}
