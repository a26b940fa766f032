package wsemu

import (
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"
)

// The SDK's own oauth-m2m strategy finds the token endpoint the way it does
// against a real workspace: host metadata's oidc_endpoint, then the
// discovery document, then client_credentials with Basic auth.
func TestSDKOAuthM2M(t *testing.T) {
	emu, srv, log, _ := startForSDK(t, WithOAuthAccessLifetime(time.Hour))
	emu.AddServicePrincipal(spID, spSecret)
	w, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host: srv.URL, ClientID: spID, ClientSecret: spSecret, AuthType: "oauth-m2m",
		RetryTimeoutSeconds: 5,
	})
	if err != nil {
		t.Fatalf("NewWorkspaceClient: %v", err)
	}
	me, err := w.CurrentUser.Me(t.Context(), iam.MeRequest{})
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	if me.UserName != spID {
		t.Errorf("Me.UserName %q, want the application id", me.UserName)
	}
	if n := emu.Requests("GET", pathOIDCDiscovery); n < 1 {
		t.Errorf("discovery fetched %d times", n)
	}
	h := log.first(pathOIDCToken)
	if h == nil || !strings.HasPrefix(h.Get("Authorization"), "Basic ") {
		t.Errorf("token request headers %v", h)
	}
	if s := emu.OAuthStats(); s.ClientCredentials != 1 {
		t.Errorf("stats %+v", s)
	}
	if ua := log.first(pathMe).Get("User-Agent"); !strings.Contains(ua, "auth/oauth-m2m") {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestSDKOAuthM2MWrongSecret(t *testing.T) {
	emu, srv, _, _ := startForSDK(t)
	emu.AddServicePrincipal(spID, spSecret)
	w, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host: srv.URL, ClientID: spID, ClientSecret: "wrong", AuthType: "oauth-m2m",
		RetryTimeoutSeconds: 5,
	})
	if err == nil {
		_, err = w.CurrentUser.Me(t.Context(), iam.MeRequest{})
	}
	// The SDK's HTTP client surfaces the token endpoint's body verbatim.
	if err == nil || !strings.Contains(err.Error(), bodyInvalidClient) {
		t.Fatalf("wrong secret: %v", err)
	}
	if s := emu.OAuthStats(); s.InvalidClients < 1 || s.ClientCredentials != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A U2M access token obtained with x/oauth2 works as the SDK's bearer token
// (the daemon hands such tokens out through the PAT-shaped channels).
func TestSDKWithU2MAccessToken(t *testing.T) {
	emu, srv, _, _ := startForSDK(t)
	emu.AddOAuthUser(alice)
	b := newBrowser(t)
	tok := login(t, u2mConfig(srv.URL, b.redirectURI()), b)
	me, err := sdkClient(t, srv.URL, tok.AccessToken, 5).CurrentUser.Me(t.Context(), iam.MeRequest{})
	if err != nil || me.UserName != alice {
		t.Fatalf("Me with U2M token: %+v, %v", me, err)
	}
}
