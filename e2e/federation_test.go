package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"

	"github.com/dbx-cred/dbx-cred/internal/testkit/oidcidp"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// federationWorld is a world whose workspace trusts a test IdP for the
// service principal "sp-ci", and whose daemon runs in a "GitHub Actions
// job": the IdP's request URL and token are in its environment.
func federationWorld(t *testing.T) (*world, *oidcidp.IdP) {
	t.Helper()
	idp := oidcidp.New()
	t.Cleanup(idp.Close)
	w := newWorld(t)
	w.emu.AddFederationPolicy(wsemu.FederationPolicy{Issuer: idp.Issuer, Audiences: []string{w.srv.URL + wsemu.PathOIDCToken},
		Subject: "repo:acme/app:ref:refs/heads/main", JWKSURL: idp.JWKSURL(), ClientID: "sp-ci", UserName: "sp-ci"})
	w.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = idp.RequestURL()
	w.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = idp.RequestToken
	return w, idp
}

// A GitHub Actions login stores nothing; every client gets valid tokens
// through a run several times longer than their life (6 s), each from a
// fresh ID token; forty clients at once cost one exchange.
func TestFederatedGitHubServesEveryClient(t *testing.T) {
	requireTools(t, "curl", "git")
	w, idp := federationWorld(t)
	idp.SetLifetime(6 * time.Second)
	w.startDaemon()
	out := w.mustHelper("", "login", "-p", "ci", "--host", w.srv.URL, "--federated", "github", "--client-id", "sp-ci")
	if !strings.Contains(out, "nothing is stored") || !strings.Contains(out, "oidc-federation (github)") {
		t.Fatalf("login:\n%s", out)
	}
	if items := w.ss.items("dbx-cred"); len(items) != 0 {
		t.Errorf("a federated login stored %d keyring items", len(items))
	}
	if list := w.mustHelper("", "list"); !strings.Contains(list, "oidc-federation (github)") {
		t.Errorf("list:\n%s", list)
	}

	cliHookEnv(t, w, "[ci]\nhost = "+w.srv.URL+"\nauth_type = databricks-cli\ndatabricks_cli_path = "+built.helper+"\n")
	metaURL := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "ci"))
	meta, err := databricks.NewWorkspaceClient(&databricks.Config{Host: w.srv.URL, AuthType: "metadata-service", MetadataServiceURL: metaURL, RetryTimeoutSeconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	gitHost := strings.TrimPrefix(w.srv.URL, "http://")
	var served []string
	check := func(what, tok string) {
		t.Helper()
		if _, ok := w.emu.Authenticate(tok); !ok {
			t.Errorf("%s handed out a token the workspace refuses", what)
		}
		served = append(served, tok)
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(700 * time.Millisecond) {
		check("token", strings.TrimSpace(w.mustHelper("", "token", "-p", "ci")))
		if me, err := meta.CurrentUser.Me(context.Background(), iam.MeRequest{}); err != nil || me.UserName != "sp-ci" {
			t.Errorf("SDK through the metadata endpoint: %v", err)
		}
		if user, err := sdkCurrentUser(t, &databricks.Config{Profile: "ci"}); err != nil || user != "sp-ci" {
			t.Errorf("SDK through databricks_cli_path: %q %v", user, err)
		}
		cfg := w.mustHelper("", "curl-config", "-p", "ci")
		curl := exec.Command("curl", "-sS", "-f", "-K", "-", w.srv.URL+"/api/2.0/preview/scim/v2/Me")
		curl.Stdin = strings.NewReader(cfg)
		if b, err := curl.CombinedOutput(); err != nil || !strings.Contains(string(b), "sp-ci") {
			t.Errorf("curl: %v %s", err, b)
		}
		gitOut := w.mustHelper(fmt.Sprintf("protocol=http\nhost=%s\n\n", gitHost), "git", "get")
		if i := strings.Index(gitOut, "password="); i >= 0 {
			check("git", strings.TrimSpace(strings.SplitN(gitOut[i+len("password="):], "\n", 2)[0]))
		} else {
			t.Errorf("git get:\n%s", gitOut)
		}
		execOut := w.mustHelper("", "exec", "-p", "ci", "--", "sh", "-c", `printf %s "$DATABRICKS_TOKEN"`)
		check("exec", execOut)
	}
	if env := w.mustHelper("", "env", "-p", "ci", "--shell", "bash"); !strings.Contains(env, "DATABRICKS_TOKEN=") {
		t.Errorf("env:\n%s", env)
	}
	if netrc := w.mustHelper("", "netrc", "-p", "ci"); !strings.Contains(netrc, "password ") {
		t.Errorf("netrc:\n%s", netrc)
	}
	if ex := w.emu.Exchanges(); ex < 4 {
		t.Errorf("%d exchanges in 20 s of 6 s tokens: not renewing", ex)
	}
	if n, ex := idp.Issued(), w.emu.Exchanges(); n != ex {
		t.Errorf("%d ID tokens for %d exchanges: each exchange should ask for a fresh one", n, ex)
	}

	// Once the current token is past renewal: forty clients, one exchange.
	time.Sleep(6 * time.Second)
	before := w.emu.Exchanges()
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errOut, code := w.helper("", "token", "-p", "ci"); code != 0 {
				t.Errorf("token: %d %s", code, errOut)
			}
		}()
	}
	wg.Wait()
	if n := w.emu.Exchanges() - before; n != 1 {
		t.Errorf("40 concurrent clients cost %d exchanges", n)
	}
	if out, errOut, code := w.helper("", "doctor", "-p", "ci"); code != 0 || !strings.Contains(out, "[ OK ] profile.ci.token") ||
		!strings.Contains(out, "oidc-federation: nothing stored; access token exchanged for an ID token from github") {
		t.Errorf("doctor -p ci: exit %d\n%s%s", code, out, errOut)
	}
	if audit := w.mustHelper("", "audit"); !strings.Contains(audit, "oidc-federation") {
		t.Errorf("audit:\n%s", audit)
	}
	for _, tok := range append(served, idp.Tokens()...) {
		w.assertNoSecretOnDisk(tok)
	}
	w.assertNoSecretOnDisk(idp.RequestToken)
}

// Azure DevOps: the job's OIDC endpoint and access token from the
// pipeline's variables, the token's fixed audience named by --audience.
func TestFederatedAzureDevOps(t *testing.T) {
	w, idp := federationWorld(t)
	w.emu.AddFederationPolicy(wsemu.FederationPolicy{Issuer: idp.Issuer, Audiences: []string{oidcidp.ADOAudience},
		JWKSURL: idp.JWKSURL(), ClientID: "sp-ado", UserName: "sp-ado"})
	w.env["SYSTEM_OIDCREQUESTURI"] = idp.ADORequestURL()
	w.env["SYSTEM_ACCESSTOKEN"] = idp.RequestToken
	w.startDaemon()
	out := w.mustHelper("", "login", "-p", "ado", "--host", w.srv.URL, "--federated", "azure-devops", "--client-id", "sp-ado", "--audience", oidcidp.ADOAudience)
	if !strings.Contains(out, "as sp-ado") {
		t.Fatalf("login:\n%s", out)
	}
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "ado"))
	if u, ok := w.emu.Authenticate(tok); !ok || u != "sp-ado" {
		t.Fatalf("token: %q %v", u, ok)
	}
	if st := w.mustHelper("", "status", "-p", "ado"); !strings.Contains(st, "oidc-federation (azure-devops)") {
		t.Errorf("status:\n%s", st)
	}
	for _, s := range append(idp.Tokens(), tok, idp.RequestToken) {
		w.assertNoSecretOnDisk(s)
	}
}

// A token file is re-read at each exchange (a projected service-account
// token), and a variable serves as well; neither is written anywhere.
func TestFederatedFileAndEnvSources(t *testing.T) {
	w, idp := federationWorld(t)
	aud := w.srv.URL + wsemu.PathOIDCToken
	dir := t.TempDir() // outside the world: the scan must not see the test's own copy
	file := filepath.Join(dir, "token")
	idp.SetLifetime(4 * time.Second)
	first := idp.Token(aud)
	os.WriteFile(file, []byte(first), 0o600)
	idp.SetLifetime(5 * time.Minute)
	w.env["MY_JWT"] = idp.Token(aud)
	w.startDaemon()
	w.mustHelper("", "login", "-p", "k8s", "--host", w.srv.URL, "--federated", "file:"+file, "--client-id", "sp-ci")
	w.mustHelper("", "login", "-p", "env", "--host", w.srv.URL, "--federated", "env:MY_JWT", "--client-id", "sp-ci")
	if tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "env")); tok == "" {
		t.Fatal("env source served nothing")
	}
	// The kubelet replaces the file before the first token expires; the
	// next exchange must read the new one (the old would be refused).
	second := idp.Token(aud)
	os.WriteFile(file, []byte(second), 0o600)
	time.Sleep(5 * time.Second)
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "k8s"))
	if _, ok := w.emu.Authenticate(tok); !ok {
		t.Fatal("after the file rotated: no valid token")
	}
	// Logging out revokes nothing (nothing was stored) and leaves no orphan.
	if out := w.mustHelper("", "logout", "-p", "env", "--yes"); !strings.Contains(out, "nothing was stored") {
		t.Errorf("logout:\n%s", out)
	}
	if st := w.mustHelper("", "status"); strings.Contains(st, "orphan") {
		t.Errorf("status after logout:\n%s", st)
	}
	for _, s := range []string{first, second, w.env["MY_JWT"], tok} {
		w.assertNoSecretOnDisk(s)
	}
}

// Each set-up mistake says what to fix, with its exit status, and records
// nothing: no ID token to be had (the workflow lacks id-token: write), an
// expired ID token, and an audience the policy does not name (whose
// claims are printed, never the token).
func TestFederatedErrors(t *testing.T) {
	w, idp := federationWorld(t)
	aud := w.srv.URL + wsemu.PathOIDCToken
	expired := filepath.Join(t.TempDir(), "expired")
	idp.SetLifetime(-time.Minute)
	os.WriteFile(expired, []byte(idp.Token(aud)), 0o600)
	idp.SetLifetime(5 * time.Minute)
	delete(w.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	w.startDaemon()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no request token", []string{"--federated", "github"}, 64, []string{"id-token: write", "nothing was recorded"}},
		{"expired", []string{"--federated", "file:" + expired}, 4, []string{"expired at", `sub "repo:acme/app:ref:refs/heads/main"`}},
		{"unset variable", []string{"--federated", "env:NOPE_JWT"}, 64, []string{"NOPE_JWT is not set"}},
	} {
		args := append([]string{"login", "-p", "bad", "--host", w.srv.URL, "--client-id", "sp-ci"}, tc.args...)
		_, errOut, code := w.helper("", args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d: %s", tc.name, code, tc.code, errOut)
		}
		for _, s := range tc.want {
			if !strings.Contains(errOut, s) {
				t.Errorf("%s: %q not in: %s", tc.name, s, errOut)
			}
		}
	}
	w.stopDaemon()
	w.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = idp.RequestToken
	w.startDaemon()
	_, errOut, code := w.helper("", "login", "-p", "bad", "--host", w.srv.URL, "--client-id", "sp-ci", "--federated", "github", "--audience", "https://wrong")
	if code != 4 || !strings.Contains(errOut, "audience does not match") || !strings.Contains(errOut, `aud "https://wrong"`) || !strings.Contains(errOut, "iss \""+idp.Issuer) {
		t.Errorf("wrong audience: exit %d: %s", code, errOut)
	}
	if list := w.mustHelper("", "list", "-o", "json"); strings.Contains(list, `"bad"`) {
		t.Errorf("a failed federated login recorded a profile:\n%s", list)
	}
}

// An ephemeral runner has no keyring at all: the daemon, started by the
// helper's autostart, serves a federated profile anyway, refuses a secret
// with what is missing, and comes back after a restart with the profile.
func TestFederatedWithoutAnyStore(t *testing.T) {
	w, _ := federationWorld(t)
	headless(w)
	delete(w.env, "DBX_CRED_NO_AUTOSTART")
	w.mustHelper("", "login", "-p", "ci", "--host", w.srv.URL, "--federated", "github", "--client-id", "sp-ci")
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci"))
	if _, ok := w.emu.Authenticate(tok); !ok {
		t.Fatal("no valid token without a store")
	}
	if _, errOut, code := w.helper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL); code != 5 || !strings.Contains(errOut, "no store is usable") {
		t.Errorf("a PAT without a store: exit %d: %s", code, errOut)
	}
	w.mustHelper("", "daemon", "stop")
	tok = strings.TrimSpace(w.mustHelper("", "token", "-p", "ci")) // autostarts again
	if _, ok := w.emu.Authenticate(tok); !ok {
		t.Fatal("after a restart: no valid token")
	}
	w.mustHelper("", "daemon", "stop")
	w.assertNoSecretOnDisk(tok)
}

// A workspace that publishes the audience its policies expect
// (/.well-known/databricks-config) is asked for ID tokens of that audience
// without --audience, as the Go SDK does.
func TestFederatedPublishedAudience(t *testing.T) {
	idp := oidcidp.New()
	t.Cleanup(idp.Close)
	w := newWorld(t, wsemu.WithFederationAudiences("databricks-ci"))
	w.emu.AddFederationPolicy(wsemu.FederationPolicy{Issuer: idp.Issuer, Audiences: []string{"databricks-ci"},
		JWKSURL: idp.JWKSURL(), ClientID: "sp-ci", UserName: "sp-ci"})
	w.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = idp.RequestURL()
	w.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = idp.RequestToken
	w.startDaemon()
	w.mustHelper("", "login", "-p", "ci", "--host", w.srv.URL, "--federated", "github", "--client-id", "sp-ci")
	if tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "ci")); tok == "" {
		t.Fatal("no token")
	}
}
