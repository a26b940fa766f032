package e2e

import (
	"strings"
	"testing"
)

// TestReloginKeepsServingValidTokens: logging a rotating profile in again
// must not revoke the new login's own first token (it carries the same
// comment as the old entry's tokens).
func TestReloginKeepsServingValidTokens(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	first := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	w.login("prod")
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	if _, ok := w.emu.Authenticate(tok); !ok {
		t.Fatal("after a second login the daemon serves a token the workspace refuses")
	}
	if _, ok := w.emu.Authenticate(first); ok {
		t.Fatal("the first login's minted token was not revoked by the second login")
	}
	if n := w.liveMinted(); n != 1 {
		t.Fatalf("%d minted tokens alive after re-login, want 1", n)
	}
}
