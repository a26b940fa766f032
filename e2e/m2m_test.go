package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// scimMe asks the emulator's SCIM Me with token and returns the user name
// it answers, or "" when it refuses: proof a served token works as whom.
func scimMe(t *testing.T, w *world, token string) string {
	t.Helper()
	return meAt(t, w, "/api/2.0/preview/scim/v2/Me", token)
}

// meAt asks the SCIM Me endpoint at path who token is; "" when refused.
func meAt(t *testing.T, w *world, path, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return ""
	}
	var me struct {
		UserName string `json:"userName"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
		t.Fatal(err)
	}
	return me.UserName
}

// TestM2MLoginServesAccessTokens: a service principal logs in with its
// client secret on stdin; every tool then gets OAuth access tokens that
// the workspace takes as the service principal, and the secret itself
// never leaves the store.
func TestM2MLoginServesAccessTokens(t *testing.T) {
	requireTools(t, "bash", "curl", "secret-tool")
	w := newWorld(t)
	const appID, secret = "6a1c7e0f-sp-ci", "dose-m2m-client-secret-0123456789abcdef"
	w.emu.AddServicePrincipal(appID, secret)
	w.startDaemon()

	out := w.mustHelper(secret+"\n", "login", "-p", "ci", "--host", w.srv.URL, "--client-id", appID)
	if !strings.Contains(out, appID) || strings.Contains(out, secret) {
		t.Fatalf("login output: %q", out)
	}
	if n := w.emu.OAuthStats().ClientCredentials; n != 1 {
		t.Fatalf("login made %d client_credentials requests, want 1 (its validation token is served, not thrown away)", n)
	}

	tok := strings.TrimSuffix(w.mustHelper("", "token", "-p", "ci"), "\n")
	if tok == "" || tok == secret || strings.ContainsAny(tok, " \n") {
		t.Fatalf("token printed %q", tok)
	}
	if u := scimMe(t, w, tok); u != appID {
		t.Fatalf("SCIM Me with the served token = %q, want the service principal %q", u, appID)
	}

	var at struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Expiry      string `json:"expiry"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "auth", "token", "-p", "ci")), &at); err != nil {
		t.Fatal(err)
	}
	if at.AccessToken != tok || at.TokenType != "Bearer" || at.Expiry == "" {
		t.Fatalf("auth token JSON: %+v", at)
	}

	// exec and env get the same access token, never the secret.
	got := w.mustHelper("", "exec", "-p", "ci", "--", "bash", "-c",
		`[ -z "${DATABRICKS_CLIENT_SECRET+x}" ] || exit 3
		 curl -sS --fail -H @<(printf 'Authorization: Bearer %s\n' "$DATABRICKS_TOKEN") "$DATABRICKS_HOST/api/2.0/preview/scim/v2/Me"`)
	if !strings.Contains(got, appID) {
		t.Fatalf("exec: %q", got)
	}

	// The metadata endpoint (the SDKs' metadata-service auth) too.
	if scimMe(t, w, metadataToken(t, w, "ci")) != appID {
		t.Fatal("the metadata endpoint's token is not the service principal's")
	}
	if p := list(t, w)["ci"]; p.UserName != appID || p.State != "ready" || p.Mode != "" {
		t.Fatalf("list: %+v", p)
	}
	kindEverywhere(t, w, "ci", "oauth-m2m")
	if text := w.mustHelper("", "status"); !strings.Contains(text, "profile ci (oauth-m2m, "+appID+")") {
		t.Fatalf("status text: %q", text)
	}
	// A restarted daemon reads the secret back from the store.
	w.stopDaemon()
	w.startDaemon()
	if tok2 := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci")); scimMe(t, w, tok2) != appID {
		t.Fatal("after a restart the profile does not serve a working token")
	}
	if _, ok := w.ss.lookup("ci"); !ok {
		t.Fatal("the client secret is not in the Secret Service")
	}

	out = w.mustHelper("", "logout", "-p", "ci")
	if !strings.Contains(out, "nothing to revoke") {
		t.Fatalf("logout does not say an M2M profile has nothing to revoke: %q", out)
	}
	if _, ok := w.ss.lookup("ci"); ok {
		t.Fatal("logout left the client secret in the store")
	}
	w.assertNoSecretOnDisk(secret)
	if strings.Contains(w.daemonLog(), secret) {
		t.Fatal("the client secret is in the daemon's log")
	}
}

// TestM2MWrongSecretStoresNothing: a refused secret leaves no store item
// and no profile, exits 4 (needs login) and says what to do.
func TestM2MWrongSecretStoresNothing(t *testing.T) {
	requireTools(t, "secret-tool")
	w := newWorld(t)
	const appID, wrong = "6a1c7e0f-sp-ci", "dose-wrong-client-secret-fedcba9876543210"
	w.emu.AddServicePrincipal(appID, "dose-the-right-secret-0123456789")
	w.startDaemon()

	_, errOut, code := w.helper(wrong+"\n", "login", "-p", "ci", "--host", w.srv.URL, "--client-id", appID)
	if code != 4 || !strings.Contains(errOut, "refused client id "+appID) || !strings.Contains(errOut, "nothing was stored") {
		t.Fatalf("wrong secret: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, wrong) {
		t.Fatal("the error repeats the secret")
	}
	if _, ok := w.ss.lookup("ci"); ok {
		t.Fatal("a refused secret was stored")
	}
	if _, ok := list(t, w)["ci"]; ok {
		t.Fatal("a refused secret made a profile")
	}
	w.assertNoSecretOnDisk(wrong)
}

// TestM2MAccessTokensRenew: an access token is replaced before it gets
// too close to its expiry (the five minutes the SDKs keep in hand), so a
// client never gets one about to die, and one request renews it.
func TestM2MAccessTokensRenew(t *testing.T) {
	requireTools(t, "secret-tool")
	// 15 s more than the five minutes kept in hand: the login's token is
	// served for 15 s, then renewed.
	w := newWorld(t, wsemu.WithOAuthAccessLifetime(5*time.Minute+15*time.Second))
	const appID, secret = "6a1c7e0f-sp-ci", "dose-m2m-client-secret-0123456789abcdef"
	w.emu.AddServicePrincipal(appID, secret)
	w.startDaemon()
	w.mustHelper(secret+"\n", "login", "-p", "ci", "--host", w.srv.URL, "--client-id", appID)
	first := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci"))
	if again := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci")); again != first {
		t.Fatal("a fresh access token was not reused")
	}
	time.Sleep(16 * time.Second)
	second := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci"))
	if second == first || scimMe(t, w, second) != appID {
		t.Fatalf("after 16 s: first %q, second %q", first, second)
	}
	if n := w.emu.OAuthStats().ClientCredentials; n != 2 {
		t.Fatalf("%d client_credentials requests, want 2 (login, one renewal)", n)
	}
}
