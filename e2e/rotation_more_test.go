package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// crashEnv and crashCode mirror daemon.CrashHookEnv and daemon.CrashExitCode
// (e2e drives the binaries and imports no daemon package).
const (
	crashEnv  = "DBX_CRED_TEST_CRASH_AT"
	crashCode = 99
)

// mintedInfos lists the minted (dbx-cred) tokens alive in the workspace.
func (w *world) mintedInfos() []wsemu.TokenInfo {
	var out []wsemu.TokenInfo
	for _, ti := range w.emu.LiveTokens(w.user) {
		if strings.HasPrefix(ti.Comment, "dbx-cred:") {
			out = append(out, ti)
		}
	}
	return out
}

// validToken runs dbx-cred token with args and fails unless it prints a
// token the workspace accepts that is not the root.
func (w *world) validToken(args ...string) string {
	w.t.Helper()
	tok := strings.TrimSpace(w.mustHelper("", append([]string{"token"}, args...)...))
	if tok == w.pat {
		w.t.Fatal("the root PAT was handed out")
	}
	if _, ok := w.emu.Authenticate(tok); !ok {
		w.t.Fatalf("dbx-cred token %v handed out a token the workspace refuses", args)
	}
	return tok
}

func TestTokenScopes(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")

	plain := w.validToken("-p", "prod")
	scoped := w.validToken("-p", "prod", "--scope", "sql")
	if scoped == plain {
		t.Fatal("--scope sql returned the unscoped token")
	}
	if ti, ok := w.emu.TokenInfoOf(scoped); !ok || !slices.Equal(ti.Scopes, []string{"sql"}) {
		t.Fatalf("the scoped token has scopes %v (live %v), want [sql]", ti.Scopes, ok)
	}
	if ti, _ := w.emu.TokenInfoOf(plain); len(ti.Scopes) != 0 {
		t.Fatalf("the unscoped token has scopes %v", ti.Scopes)
	}
	if again := w.validToken("-p", "prod", "--scope", "sql"); again != scoped {
		t.Fatal("a second --scope sql call minted again instead of serving the cached token")
	}
	if again := w.validToken("-p", "prod"); again != plain {
		t.Fatal("asking for a scoped token changed the unscoped one")
	}

	// An older workspace that knows no scopes: a clear error, and the
	// unscoped token keeps working.
	old := newWorld(t, wsemu.WithoutScopes())
	old.startDaemon()
	old.login("prod")
	_, errOut, code := old.helper("", "token", "-p", "prod", "--scope", "sql")
	if code == 0 || !strings.Contains(errOut, "scopes") {
		t.Fatalf("--scope on a workspace without scopes: exit %d, %q; want a non-zero exit naming scopes", code, errOut)
	}
	t.Logf("--scope without workspace support: exit %d: %s", code, errOut)
	old.validToken("-p", "prod")
	// Refused scopes stay refused: the daemon does not keep asking (its
	// first retry would come within 1 s), and asking again asks once.
	creates := old.emu.Requests("POST", "/api/2.0/token/create")
	time.Sleep(2500 * time.Millisecond)
	if n := old.emu.Requests("POST", "/api/2.0/token/create"); n != creates {
		t.Fatalf("the daemon made %d more token/create calls for scopes the workspace refused", n-creates)
	}
	if _, _, code := old.helper("", "token", "-p", "prod", "--scope", "sql"); code == 0 {
		t.Fatal("--scope succeeded the second time on a workspace without scopes")
	}
	if n := old.emu.Requests("POST", "/api/2.0/token/create"); n != creates+1 {
		t.Fatalf("asking for refused scopes again made %d token/create calls, want 1", n-creates)
	}
}

// keyringRoot reads the root the daemon keeps for profile, as any Secret
// Service client could.
func (w *world) keyringRoot(profile string) string {
	w.t.Helper()
	raw, ok := w.ss.lookup(profile)
	if !ok {
		w.t.Fatalf("no keyring item for %s", profile)
	}
	var s struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Token == "" {
		w.t.Fatalf("keyring item of %s is not dbx-cred's JSON: %v", profile, err)
	}
	return s.Token
}

type profileStatus struct {
	Name              string    `json:"name"`
	RootExpiry        time.Time `json:"root_expiry"`
	RootExpiryWarning string    `json:"root_expiry_warning"`
}

func (w *world) profileStatus(name string) profileStatus {
	w.t.Helper()
	var st struct {
		Profiles []profileStatus `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		w.t.Fatal(err)
	}
	for _, p := range st.Profiles {
		if p.Name == name {
			return p
		}
	}
	w.t.Fatalf("status lists no profile %s", name)
	return profileStatus{}
}

func TestRotateRoot(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	w.validToken("-p", "prod")

	// The pasted root's id is unknown: it stays valid and the user is told
	// to revoke it.
	out := w.mustHelper("", "rotate", "-p", "prod")
	if !strings.Contains(out, "revoke it yourself") {
		t.Fatalf("rotate of a pasted root does not ask to revoke it: %q", out)
	}
	if _, ok := w.emu.Authenticate(w.pat); !ok {
		t.Fatal("rotate revoked the pasted root, whose id it cannot know")
	}
	root1 := w.keyringRoot("prod")
	if root1 == w.pat {
		t.Fatal("rotate did not replace the stored root")
	}
	if _, ok := w.emu.Authenticate(root1); !ok {
		t.Fatal("the new root does not work")
	}
	w.validToken("-p", "prod")
	if p := w.profileStatus("prod"); p.RootExpiry.Sub(time.Now().Add(90*24*time.Hour)).Abs() > time.Hour || p.RootExpiryWarning != "" {
		t.Fatalf("after rotate: root_expiry %v (want ~90 days ahead), warning %q", p.RootExpiry, p.RootExpiryWarning)
	}

	// The first rotated root was created by dbx-cred: its id is known and
	// the second rotation revokes it.
	out = w.mustHelper("", "rotate", "-p", "prod")
	if !strings.Contains(out, "old root token is revoked") {
		t.Fatalf("second rotate: %q", out)
	}
	if _, ok := w.emu.Authenticate(root1); ok {
		t.Fatal("the first rotated root is still valid after the second rotation")
	}
	root2 := w.keyringRoot("prod")
	if _, ok := w.emu.Authenticate(root2); !ok || root2 == root1 {
		t.Fatal("the second rotation did not store a working new root")
	}
	w.validToken("-p", "prod")
	w.stopDaemon()
	w.startDaemon()
	w.validToken("-p", "prod")
	w.stopDaemon()
	for _, s := range []string{w.pat, root1, root2} {
		w.assertNoSecretOnDisk(s)
	}
}

// TestRootExpiryWarningInStatus sets a root expiry 10 days ahead in the
// registry (real time cannot wait for it) and checks that status and the
// daemon's log warn.
func TestRootExpiryWarningInStatus(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	w.stopDaemon()

	path := filepath.Join(w.env["XDG_CONFIG_HOME"], "dbx-cred", "profiles.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	if err := json.Unmarshal(raw, &reg); err != nil {
		t.Fatal(err)
	}
	profiles, _ := reg["profiles"].([]any)
	if len(profiles) != 1 {
		t.Fatalf("registry: %s", raw)
	}
	expiry := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	profiles[0].(map[string]any)["root_expiry"] = expiry.Format(time.RFC3339)
	if raw, err = json.Marshal(reg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	w.startDaemon()
	p := w.profileStatus("prod")
	if !p.RootExpiry.Equal(expiry) || !strings.Contains(p.RootExpiryWarning, "dbx-cred rotate -p prod") ||
		!strings.Contains(p.RootExpiryWarning, expiry.Format(time.DateOnly)) {
		t.Fatalf("status: root_expiry %v, warning %q", p.RootExpiry, p.RootExpiryWarning)
	}
	if out := w.mustHelper("", "status"); !strings.Contains(out, "WARNING: the root token expires on") {
		t.Fatalf("status text has no warning:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.daemonLog(), "root token expires soon") {
		if time.Now().After(deadline) {
			t.Fatal("the daemon did not log the expiring root")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCrashInMintWindow kills the daemon (the test hook exits it, as kill -9
// would) right after a renewal's token/create answered but before the new
// token is persisted, and right after persisting but before the superseded
// token is revoked. Either way one token is an orphan no daemon holds; the
// restarted daemon's first clean-up pass must revoke it before it would
// have expired on its own, and clients must keep getting valid tokens.
func TestCrashInMintWindow(t *testing.T) {
	for _, point := range []string{"after-mint", "after-persist"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.env[crashEnv] = point
			w.startDaemon()
			// 20 s: the renewal (at 11-13 s) leaves the older token 6 s or
			// more, time enough to restart and prove it is revoked, not
			// merely expired.
			w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--token-lifetime", "20s", "--host", w.srv.URL)
			first := w.validToken("-p", "prod")
			firstInfo, _ := w.emu.TokenInfoOf(first)

			var err error
			select {
			case err = <-w.daemonExited:
			case <-time.After(30 * time.Second):
				t.Fatal("the daemon did not renew (and crash) within 30 s of a 20 s lifetime")
			}
			w.daemon = nil
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != crashCode {
				t.Fatalf("daemon exit: %v; want exit code %d from the hook\n%s", err, crashCode, w.daemonLog())
			}
			if !strings.Contains(w.daemonLog(), "test hook: exiting") {
				t.Fatalf("the daemon died, but not from the hook:\n%s", w.daemonLog())
			}

			live := w.mintedInfos()
			if len(live) != 2 {
				t.Fatalf("%d minted tokens live after the crash; want the first one and the new one", len(live))
			}
			// after-mint: the new token is the orphan (never persisted);
			// after-persist: the first one is (superseded, never revoked).
			var orphan wsemu.TokenInfo
			for _, ti := range live {
				if (ti.TokenID == firstInfo.TokenID) == (point == "after-persist") {
					orphan = ti
				}
			}
			if orphan.TokenID == "" {
				t.Fatalf("cannot tell the orphan among %+v", live)
			}
			orphanExpiry := time.UnixMilli(orphan.ExpiryTime)

			delete(w.env, crashEnv)
			w.startDaemon()
			deadline := time.Now().Add(10 * time.Second)
			for {
				live = w.mintedInfos()
				gone := !slices.ContainsFunc(live, func(ti wsemu.TokenInfo) bool { return ti.TokenID == orphan.TokenID })
				if gone && len(live) <= 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d minted tokens live 10 s after the restart (orphan revoked: %v)\n%s", len(live), gone, w.daemonLog())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !time.Now().Before(orphanExpiry) {
				t.Fatal("the orphan expired before the clean-up could be seen to revoke it: the restart was too slow to prove anything")
			}
			tok := w.validToken("-p", "prod")
			if ti, _ := w.emu.TokenInfoOf(tok); ti.TokenID == orphan.TokenID {
				t.Fatal("the restarted daemon serves the orphan")
			}
		})
	}
}

// TestLogoutAfterRotateLeavesNothingAlive: after rotate and logout, the
// workspace's token list holds no token dbx-cred created (the 90-day root
// rotate made included), and logout says what it revoked.
func TestLogoutAfterRotateLeavesNothingAlive(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("good")
	w.validToken("-p", "good")
	w.mustHelper("", "token", "-p", "good", "--scope", "sql")
	w.mustHelper("", "rotate", "-p", "good")
	w.validToken("-p", "good")
	out := w.mustHelper("", "logout", "-p", "good")
	if !strings.Contains(out, "created by dbx-cred rotate") || !strings.Contains(out, "short-lived token") {
		t.Fatalf("logout does not say what it revoked: %q", out)
	}
	var alive []string
	for _, ti := range w.emu.LiveTokens(w.user) {
		if strings.HasPrefix(ti.Comment, "dbx-cred") {
			alive = append(alive, ti.Comment)
		}
	}
	if len(alive) > 0 {
		t.Fatalf("dbx-cred tokens alive after rotate and logout: %q", alive)
	}
	// The pasted root is the user's: logout says to revoke it themselves
	// only while it was the root in use; after rotate it was not.
	if _, ok := w.emu.Authenticate(w.pat); !ok {
		t.Fatal("logout revoked the token the user pasted")
	}
}
