package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// accountMe asks the emulator's account-level SCIM Me with token and
// returns the user name it answers, or "" when it refuses.
func accountMe(t *testing.T, w *world, accountID, token string) string {
	t.Helper()
	return meAt(t, w, wsemu.AccountMePath(accountID), token)
}

// TestAccountM2MLogin: a service principal logs in at account level with
// --account-id; the daemon gets its tokens from the account's token
// endpoint, they work at the account API (and, as account tokens, not at a
// workspace's), auth token finds the profile by accounts host and account
// id, env exports DATABRICKS_ACCOUNT_ID, and status shows kind, account and
// the access token's expiry.
func TestAccountM2MLogin(t *testing.T) {
	requireTools(t, "secret-tool")
	const accountID = "0f1e2d3c-acct-4b5a-9687-a1b2c3d4e5f6"
	w := newWorld(t, wsemu.WithAccountID(accountID))
	const appID, secret = "6a1c7e0f-sp-acct", "dose-m2m-account-secret-0123456789abcdef"
	w.emu.AddServicePrincipal(appID, secret)
	w.startDaemon()

	out := w.mustHelper(secret+"\n", "login", "-p", "acct", "--host", w.srv.URL, "--account-id", accountID, "--client-id", appID)
	if !strings.Contains(out, appID) || !strings.Contains(out, "account "+accountID) || strings.Contains(out, secret) {
		t.Fatalf("login output: %q", out)
	}
	if n := w.emu.Requests(http.MethodPost, wsemu.AccountOIDCPath(accountID, "token")); n != 1 {
		t.Fatalf("the account token endpoint saw %d requests, want 1", n)
	}

	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "acct"))
	if tok == "" || tok == secret {
		t.Fatalf("token printed %q", tok)
	}
	if u := accountMe(t, w, accountID, tok); u != appID {
		t.Fatalf("account SCIM Me with the served token = %q, want %q", u, appID)
	}
	if u := scimMe(t, w, tok); u != "" {
		t.Fatalf("workspace SCIM Me took an account token (as %q): the emulator should refuse it", u)
	}

	var at struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Expiry      string `json:"expiry"`
	}
	// As the SDKs' databricks-cli hook asks for an account client.
	if err := json.Unmarshal([]byte(w.mustHelper("", "auth", "token", "--host", w.srv.URL, "--account-id", accountID)), &at); err != nil {
		t.Fatal(err)
	}
	if at.AccessToken != tok || at.TokenType != "Bearer" || at.Expiry == "" {
		t.Fatalf("auth token --host --account-id JSON: %+v", at)
	}
	if _, errOut, code := w.helper("", "auth", "token", "--host", w.srv.URL, "--account-id", "not-this-account"); code == 0 || !strings.Contains(errOut, "no profile for account not-this-account") {
		t.Fatalf("auth token with another account id: exit %d, %q", code, errOut)
	}

	env := w.mustHelper("", "env", "-p", "acct", "--shell", "bash")
	if !strings.Contains(env, "DATABRICKS_ACCOUNT_ID="+accountID) && !strings.Contains(env, "DATABRICKS_ACCOUNT_ID='"+accountID+"'") {
		t.Fatalf("env does not export DATABRICKS_ACCOUNT_ID: %q", env)
	}
	got := w.mustHelper("", "exec", "-p", "acct", "--", "sh", "-c", `printf '%s' "$DATABRICKS_ACCOUNT_ID"`)
	if got != accountID {
		t.Fatalf("exec DATABRICKS_ACCOUNT_ID = %q", got)
	}

	var st struct {
		Profiles []struct {
			Name, Kind    string
			AccountID     string     `json:"account_id"`
			CurrentExpiry *time.Time `json:"current_expiry"`
			LastError     string     `json:"last_error"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Profiles) != 1 || st.Profiles[0].Kind != "oauth-m2m" || st.Profiles[0].AccountID != accountID ||
		st.Profiles[0].CurrentExpiry == nil || time.Until(*st.Profiles[0].CurrentExpiry) < 30*time.Minute || st.Profiles[0].LastError != "" {
		t.Fatalf("status --json: %+v", st)
	}
	text := w.mustHelper("", "status")
	if !strings.Contains(text, "profile acct (oauth-m2m, "+appID+")") || !strings.Contains(text, "account:         "+accountID) ||
		!strings.Contains(text, "current expires:") {
		t.Fatalf("status text: %q", text)
	}

	// A restarted daemon reads the secret back and still asks the account.
	w.stopDaemon()
	w.startDaemon()
	if tok2 := strings.TrimSpace(w.mustHelper("", "token", "-p", "acct")); accountMe(t, w, accountID, tok2) != appID {
		t.Fatal("after a restart the account profile does not serve a working account token")
	}
	w.assertNoSecretOnDisk(secret)
}

// TestAccountM2MWrongAccountStoresNothing: a wrong account id fails the
// login with a message naming the account, and nothing is stored.
func TestAccountM2MWrongAccountStoresNothing(t *testing.T) {
	requireTools(t, "secret-tool")
	w := newWorld(t, wsemu.WithAccountID("0f1e2d3c-acct-right"))
	const appID, secret = "6a1c7e0f-sp-acct", "dose-m2m-account-secret-0123456789abcdef"
	w.emu.AddServicePrincipal(appID, secret)
	w.startDaemon()

	_, errOut, code := w.helper(secret+"\n", "login", "-p", "acct", "--host", w.srv.URL, "--account-id", "0f1e2d3c-acct-wrong", "--client-id", appID)
	if code == 0 || !strings.Contains(errOut, "account 0f1e2d3c-acct-wrong") || !strings.Contains(errOut, "nothing was stored") {
		t.Fatalf("wrong account id: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, secret) {
		t.Fatal("the error repeats the secret")
	}
	if _, ok := w.ss.lookup("acct"); ok {
		t.Fatal("a login with a wrong account id stored the secret")
	}
	if _, ok := list(t, w)["acct"]; ok {
		t.Fatal("a login with a wrong account id made a profile")
	}

	// --account-id without --client-id is refused before any secret is read.
	if _, errOut, code := w.helper("", "login", "-p", "acct", "--host", w.srv.URL, "--account-id", "0f1e2d3c-acct-right"); code != 64 || !strings.Contains(errOut, "--account-id needs --client-id") {
		t.Fatalf("--account-id without --client-id: exit %d, %q", code, errOut)
	}
}
