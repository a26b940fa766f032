package wsemu

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/oidcidp"
)

// The token-exchange grant: RS256 and ES256 JWTs matching a policy get an
// access token no longer-lived than the JWT, which SCIM Me accepts; each
// mismatch is refused with invalid_grant and says which.
func TestTokenExchange(t *testing.T) {
	idp := oidcidp.New()
	defer idp.Close()
	e := New()
	srv := httptest.NewServer(e)
	defer srv.Close()
	aud := srv.URL + "/oidc/v1/token"
	e.AddFederationPolicy(FederationPolicy{Issuer: idp.Issuer, Audiences: []string{aud}, Subject: "repo:acme/app:ref:refs/heads/main",
		JWKSURL: idp.JWKSURL(), ClientID: "sp-app", UserName: "sp-app"})
	exchange := func(jwt, clientID string) (int, string) {
		form := url.Values{"grant_type": {grantTokenExchange}, "subject_token_type": {tokenTypeJWT}, "subject_token": {jwt}, "scope": {"all-apis"}}
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		code, body, _ := postToken(t, srv, "/oidc/v1/token", form, "", "")
		return code, body
	}
	for _, alg := range []string{"RS256", "ES256"} {
		idp.SetAlg(alg)
		code, body := exchange(idp.Token(aud), "sp-app")
		var tok oauthTokenResponse
		json.Unmarshal([]byte(body), &tok)
		if code != 200 || tok.AccessToken == "" || tok.ExpiresIn > 300 {
			t.Fatalf("%s: %d %s", alg, code, body)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/api/2.0/preview/scim/v2/Me", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: Me with the exchanged token: %v %v", alg, err, resp.StatusCode)
		}
		resp.Body.Close()
	}
	idp.SetAlg("RS256")
	good := idp.Token(aud)
	idp.SetLifetime(-time.Minute)
	expired := idp.Token(aud)
	idp.SetLifetime(5 * time.Minute)
	idp.SetSubject("repo:evil/app")
	wrongSub := idp.Token(aud)
	idp.SetSubject("repo:acme/app:ref:refs/heads/main")
	tampered := good[:len(good)-4] + "AAAA"
	for name, tc := range map[string]struct {
		jwt, client, want string
	}{
		"audience":     {idp.Token("https://elsewhere"), "sp-app", "audience does not match"},
		"expired":      {expired, "sp-app", "has expired"},
		"subject":      {wrongSub, "sp-app", "subject does not match"},
		"signature":    {tampered, "sp-app", "signature verification failed"},
		"other client": {good, "other-sp", "no federation policy matches"},
		"not a JWT":    {"abc", "sp-app", "not a JWT"},
	} {
		code, body := exchange(tc.jwt, tc.client)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", name, code, body)
		}
	}
	if n := e.Exchanges(); n != 2 {
		t.Errorf("Exchanges = %d, want 2", n)
	}
}
