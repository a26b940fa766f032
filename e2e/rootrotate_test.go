package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
