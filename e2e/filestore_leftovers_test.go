package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// storeFileSecrets decrypts the file store at path with the test
// passphrase, as the age tool would, and returns every value it holds;
// nil when there is no such file.
func (w *world) storeFileSecrets(path string) []string {
	w.t.Helper()
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		w.t.Fatal(err)
	}
	var f struct{ Identity, Secrets string }
	if err := json.Unmarshal(raw, &f); err != nil {
		w.t.Fatalf("%s: %v", path, err)
	}
	dec := func(armored string, id age.Identity) []byte {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), id)
		if err != nil {
			w.t.Fatalf("decrypt %s: %v", path, err)
		}
		b, _ := io.ReadAll(r)
		return b
	}
	sid, _ := age.NewScryptIdentity(passphrase)
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(dec(f.Identity, sid))))
	if err != nil {
		w.t.Fatal(err)
	}
	var c struct{ Namespaces map[string]map[string]string }
	if err := json.Unmarshal(dec(f.Secrets, id), &c); err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, ns := range c.Namespaces {
		for _, v := range ns {
			out = append(out, v)
		}
	}
	return out
}

// storeFilesHold reports which of the file store and its previous version
// hold secret, decrypted.
func (w *world) storeFilesHold(secret string) []string {
	w.t.Helper()
	var in []string
	for _, p := range []string{w.storeFile(), w.storeFile() + ".1"} {
		for _, v := range w.storeFileSecrets(p) {
			if strings.Contains(v, secret) {
				in = append(in, p)
				break
			}
		}
	}
	return in
}

// TestFileStoreKeepsNoRemovedSecret: a logged-out login's refresh token
// (still valid wherever the workspace has no revocation) and every
// superseded one are in neither secrets.age nor secrets.age.1, decrypted;
// after store migrate away from the file store both files are gone.
func TestFileStoreKeepsNoRemovedSecret(t *testing.T) {
	requireTools(t, "bash", "curl")
	w := newWorld(t, wsemu.WithOAuthAccessLifetime(6*time.Second))
	w.env["DBX_CRED_TEST_SCRYPT_WORK"] = "10"
	w.emu.AddOAuthUser(w.user)
	w.oauthBrowser()
	w.startDaemon("--store", "file")
	w.mustHelper(passphrase+"\n", "unlock")
	// Login names the store the secret went to, not always the OS keyring.
	if out := w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL); !strings.Contains(out, "the token is in dbx-credd's encrypted file store") {
		t.Errorf("login into the file store says: %s", out)
	}
	if out := w.oauthLogin("dev"); !strings.Contains(out, "the refresh token is in dbx-credd's encrypted file store") {
		t.Errorf("OAuth login into the file store says: %s", out)
	}
	// Short access tokens: the daemon refreshes, the workspace rotates the
	// refresh token, and the store replaces it.
	for deadline := time.Now().Add(30 * time.Second); len(w.emu.IssuedRefreshTokens()) < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no refresh within 30 s: the test needs a superseded refresh token")
		}
		w.mustHelper("", "token", "-p", "dev")
	}
	if in := w.storeFilesHold(w.pat); len(in) != 2 {
		t.Fatalf("prod's token is in %v, want both files (the check must see what is there)", in)
	}
	w.mustHelper("", "logout", "-p", "dev")
	rts := w.emu.IssuedRefreshTokens()
	for i, rt := range rts {
		if in := w.storeFilesHold(rt); len(in) > 0 {
			t.Errorf("refresh token %d of %d (removed by a refresh or the logout) is still in %v", i+1, len(rts), in)
		}
	}
	if in := w.storeFilesHold(w.pat); len(in) != 2 {
		t.Fatalf("prod's token, never removed, is in %v, want both files", in)
	}

	out := w.mustHelper("", "store", "migrate", "--to", "os")
	if !strings.Contains(out, w.storeFile()) || !strings.Contains(out, "deleted") {
		t.Errorf("migrate does not say it deleted the old file store: %s", out)
	}
	for _, p := range []string{w.storeFile(), w.storeFile() + ".1"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after migrating away from the file store: %v", p, err)
		}
	}
	w.mustHelper("", "token", "-p", "prod")
	w.restart()
	w.mustHelper("", "token", "-p", "prod")
	w.noRefreshTokenAnywhere()
}

// TestImportIntoLockedFileStorePresentsNothing: importing the Databricks
// CLI's OAuth login while the file store is locked refuses before the
// refresh token reaches the workspace (the proving refresh would spend it
// and the store could not take its successor): the CLI's token still
// works, its cache and the config are unchanged, and the message says so
// and names dbx-cred unlock. After the unlock the same import works.
func TestImportIntoLockedFileStorePresentsNothing(t *testing.T) {
	w := newWorld(t)
	w.env["DBX_CRED_TEST_SCRYPT_WORK"] = "10"
	w.startDaemon("--store", "file")
	w.mustHelper(passphrase+"\n", "unlock")
	w.restart("--store", "file") // locked now

	path := filepath.Join(w.env["HOME"], ".databrickscfg")
	cfg := "[cli]\nhost = " + w.srv.URL + "\nauth_type = databricks-cli\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	access, rt := w.emu.IssueOAuthLogin(w.user, "")
	cache := filepath.Join(w.env["HOME"], ".databricks", "token-cache.json")
	os.MkdirAll(filepath.Dir(cache), 0o700)
	b, _ := json.Marshal(map[string]any{"version": 1, "tokens": map[string]any{"cli": map[string]any{
		"access_token": access, "token_type": "Bearer", "refresh_token": rt, "expiry": time.Now().Add(time.Hour).Format(time.RFC3339)}}})
	if err := os.WriteFile(cache, b, 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := w.helper("", "import", "-p", "cli")
	if code == 0 || !strings.Contains(errOut, "locked: run dbx-cred unlock") || !strings.Contains(errOut, "Nothing was presented") ||
		!strings.Contains(errOut, "still works") {
		t.Fatalf("import into a locked store: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("refused as: %s", errOut)
	if !w.emu.RefreshTokenLive(rt) || w.emu.OAuthStats().Refreshes != 0 {
		t.Fatalf("the CLI's refresh token was presented (stats %+v)", w.emu.OAuthStats())
	}
	if readFile(t, cache) != string(b) || readFile(t, path) != cfg {
		t.Fatal("the CLI's cache or the config changed although nothing was imported")
	}

	w.mustHelper(passphrase+"\n", "unlock")
	if out := w.mustHelper("", "import", "-p", "cli"); !strings.Contains(out, "[cli] imported") || !strings.Contains(out, "is in dbx-credd's encrypted file store") {
		t.Fatalf("import after unlock: %s", out)
	}
	if w.emu.RefreshTokenLive(rt) {
		t.Fatal("the import after unlock did not take the login over")
	}
	w.mustHelper("", "token", "-p", "cli")
	w.noReuse()
}
