package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoRunsAndShowsNoSecret runs "make demo"'s script the way a new user
// would, non-interactively, so the README's one-command promise cannot rot:
// it must exit 0, show every step, and never print a token or a metadata
// URL's secret in full.
func TestDemoRunsAndShowsNoSecret(t *testing.T) {
	requireTools(t, "bash", "go", "git", "curl", "dbus-run-session", "gnome-keyring-daemon", "gdbus")
	// The demo builds its own binaries (go build), starts its own Secret
	// Service and waits for a real 15 s token to be renewed: it needs time.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../scripts/demo")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, heading := range []string{
		"== Setup:",
		"== 1. Log in",
		"== 2. A derived token",
		"== 3. env",
		"== 4. exec",
		"== 5. git",
		"== 6. curl",
		"== 7. Go SDK",
		"== 8. Renewal",
		"== 9. status",
		"== 10. audit",
		"== Cleanup",
		"What you saw:",
	} {
		if !strings.Contains(text, heading) {
			t.Errorf("the demo's output lacks %q", heading)
		}
	}
	// What each step must have shown working, not just announced.
	for _, proof := range []string{
		"they differ",
		"First commit",                  // the clone through the helper
		`"userName":"demo@example.com"`, // curl's SCIM Me
		"CurrentUser.Me: demo@example.com",
		"renewed after",
	} {
		if !strings.Contains(text, proof) {
			t.Errorf("the demo's output lacks %q", proof)
		}
	}
	// The audit shows the demo's calls, each once: the SDK's two
	// metadata requests for one call are one line, and no polling loop.
	audit := text[strings.Index(text, "== 10. audit"):]
	audit = audit[:strings.Index(audit, "== Cleanup")]
	if n := strings.Count(audit, " metadata "); n != 1 {
		t.Errorf("the audit shows the SDK's call %d times, want once:\n%s", n, audit)
	}
	if n := strings.Count(audit, "\n") - 3; n > 10 {
		t.Errorf("the audit shows %d hand-outs, more than the demo's own calls:\n%s", n, audit)
	}
	// Every token the emulator issues (the PAT and derived ones) is dapi +
	// 32 hex digits; a metadata URL's secret is 43 base64url characters.
	if m := regexp.MustCompile(`dapi[0-9a-f]{32}`).FindString(text); m != "" {
		t.Errorf("the demo printed a whole token (%s…)", m[:8])
	}
	if regexp.MustCompile(`127\.0\.0\.1:\d+/[A-Za-z0-9_-]{43}`).MatchString(text) {
		t.Error("the demo printed a whole metadata-service URL")
	}
	// The demo's binaries are stamped as "make build" stamps them.
	if m := regexp.MustCompile(`dbx-credd (\S+), pid`).FindStringSubmatch(text); m == nil || m[1] == "dev" {
		t.Errorf("the demo's status shows no real version: %q", m)
	}
	if t.Failed() {
		t.Logf("demo output:\n%s", text)
	}
}
