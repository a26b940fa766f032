package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDamagedRegistryStillServes: a profiles.json that does not parse used
// to stop dbx-credd at start ("move it aside and log in again") although
// every secret was still in the keyring. The daemon now serves from the
// copy its last write kept (profiles.json.1), says so in its log, and keeps
// the damaged file.
func TestDamagedRegistryStillServes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	w.login("dev") // this write keeps the registry with prod as profiles.json.1
	before := w.validToken("-p", "prod")
	w.stopDaemon()

	reg := filepath.Join(w.env["XDG_CONFIG_HOME"], "dbx-cred", "profiles.json")
	if _, err := os.Stat(reg + ".1"); err != nil {
		t.Fatalf("no backup of the registry after two logins: %v", err)
	}
	garbage := []byte(`{"version": 1, "profiles": [{"name": "pr`)
	if err := os.WriteFile(reg, garbage, 0o600); err != nil {
		t.Fatal(err)
	}

	w.startDaemon()
	if got := w.validToken("-p", "prod"); got != before {
		t.Fatal("after the fallback prod serves a different token: its minted token was not found again")
	}
	if log := w.daemonLog(); !strings.Contains(log, "restored it from its backup") || !strings.Contains(log, "dbx-cred login -p NAME") {
		t.Fatalf("the fallback is not in the daemon log:\n%s", log)
	}
	kept, _ := filepath.Glob(reg + ".damaged-*")
	if len(kept) != 1 {
		t.Fatalf("damaged copies: %v, want one", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != string(garbage) {
		t.Fatalf("the damaged registry was not kept as it was: %q", b)
	}
	// A login now writes over the restored registry, not over the damaged one.
	w.login("new")
	w.validToken("-p", "new")
	w.assertNoSecretOnDisk(w.pat)
}
