package helper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const oauthCfg = "[cli]\nhost = https://adb-1.azuredatabricks.net\nauth_type = databricks-cli\n\n" +
	"[byhost]\nhost = https://ADB-2.azuredatabricks.net\n\n" +
	"[acct]\nhost = https://accounts.cloud.databricks.com\naccount_id = 0f1e\nauth_type = databricks-cli\n\n" +
	"[keyring]\nhost = https://adb-3.azuredatabricks.net\nauth_type = databricks-cli\n"

func oauthCache(rt ...string) string {
	return `{"version": 1, "tokens": {` +
		`"cli": {"access_token": "at-1", "token_type": "Bearer", "refresh_token": "` + rt[0] + `", "expiry": "2026-12-01T10:00:00Z"},` +
		`"https://adb-2.azuredatabricks.net/": {"access_token": "at-2", "refresh_token": "` + rt[1] + `"},` +
		`"https://accounts.cloud.databricks.com/oidc/accounts/0f1e": {"refresh_token": "` + rt[2] + `"},` +
		`"other": {"refresh_token": "` + rt[3] + `", "unknown_field": 7}}}`
}

// The CLI's plaintext logins move into the daemon: by profile name, by
// host, by <host>/oidc/accounts/<id>; each entry goes from the cache
// (backed up 0600 first, mode and other entries kept) and each profile
// is rewritten to metadata-service. The dry run touches nothing, and no
// refresh token is ever printed.
func TestImportOAuthFromTokenCache(t *testing.T) {
	f := newFakeDaemon(t)
	const md = "http://127.0.0.1:1/dbx-cred/u2m/metadata"
	f.with(func(f *fakeDaemon) { f.metadata = &pb.MetadataURLResponse{Url: md} })
	rts := []string{"rt-cli-0123456789", "rt-host-0123456789", "rt-acct-0123456789", "rt-other-0123456789"}
	dir := t.TempDir()
	cfg, cache := filepath.Join(dir, "databrickscfg"), filepath.Join(dir, "token-cache.json")
	if err := os.WriteFile(cfg, []byte(oauthCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cache, []byte(oauthCache(rts...)), 0o640); err != nil {
		t.Fatal(err)
	}
	noSecrets := func(what, s string) {
		t.Helper()
		for _, rt := range rts {
			if strings.Contains(s, rt) {
				t.Errorf("%s shows refresh token %s:\n%s", what, rt, s)
			}
		}
	}
	args := []string{"import", "--config", cfg, "--token-cache", cache, "--all"}

	out, errOut, code := f.run("", nil, append(args, "--dry-run")...)
	noSecrets("dry run", out+errOut)
	if code != exitOK || !strings.Contains(out, `login "cli" in `+cache) || !strings.Contains(out, `"https://adb-2.azuredatabricks.net/"`) ||
		!strings.Contains(out, `"https://accounts.cloud.databricks.com/oidc/accounts/0f1e"`) || !strings.Contains(out, "drop auth_type = databricks-cli") ||
		!strings.Contains(out, "dbx-cred login -p keyring --host https://adb-3.azuredatabricks.net --oauth") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(cache); string(b) != oauthCache(rts...) {
		t.Fatalf("the dry run changed the cache:\n%s", b)
	}
	if b, _ := os.ReadFile(cfg); string(b) != oauthCfg {
		t.Fatalf("the dry run changed the config:\n%s", b)
	}
	if n := len(f.oauthImportRequests()); n != 0 {
		t.Fatalf("the dry run imported %d logins", n)
	}

	out, errOut, code = f.run("", nil, args...)
	noSecrets("import", out+errOut)
	if code != exitOK || !strings.Contains(out, "[cli] imported") || !strings.Contains(out, "is now dead") ||
		!strings.Contains(out, "[keyring] skipped") || !strings.Contains(out, "OS keyring") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	got := map[string]*pb.ImportOAuthRequest{}
	for _, r := range f.oauthImportRequests() {
		got[r.GetProfile()] = r
	}
	// A profile with no cache entry is looked for in the CLI's OS keyring,
	// by the daemon (the fake holds none): no refresh token is sent.
	if len(got) != 4 || got["cli"].GetRefreshToken() != rts[0] || got["byhost"].GetRefreshToken() != rts[1] ||
		got["acct"].GetRefreshToken() != rts[2] || got["acct"].GetAccountId() != "0f1e" ||
		got["keyring"].GetRefreshToken() != "" || strings.Join(got["keyring"].GetCliKeyringKeys(), " ") != "keyring https://adb-3.azuredatabricks.net" {
		t.Fatalf("ImportOAuth requests: %v", got)
	}

	b, _ := os.ReadFile(cache)
	var left struct {
		Version int                        `json:"version"`
		Tokens  map[string]json.RawMessage `json:"tokens"`
	}
	if err := json.Unmarshal(b, &left); err != nil || left.Version != 1 || len(left.Tokens) != 1 ||
		!strings.Contains(string(left.Tokens["other"]), `"unknown_field": 7`) {
		t.Fatalf("cache after import (%v):\n%s", err, b)
	}
	// 0600 whatever it was: the entries left hold other logins' refresh
	// tokens (databrickscfg.PrivateMode).
	if fi, _ := os.Stat(cache); fi.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v, want 0600", fi.Mode().Perm())
	}
	backups, _ := filepath.Glob(cache + ".dbx-cred-backup-*")
	if len(backups) != 1 {
		t.Fatalf("cache backups: %v", backups)
	}
	if fi, _ := os.Stat(backups[0]); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	if bb, _ := os.ReadFile(backups[0]); string(bb) != oauthCache(rts...) {
		t.Errorf("backup is not the original cache:\n%s", bb)
	}

	b, _ = os.ReadFile(cfg)
	want := "[cli]\nhost = https://adb-1.azuredatabricks.net\nauth_type = metadata-service\nmetadata_service_url = " + md + "\n\n" +
		"[byhost]\nhost = https://ADB-2.azuredatabricks.net\nauth_type = metadata-service\nmetadata_service_url = " + md + "\n\n" +
		"[acct]\nhost = https://accounts.cloud.databricks.com\naccount_id = 0f1e\nauth_type = metadata-service\nmetadata_service_url = " + md + "\n\n" +
		"[keyring]\nhost = https://adb-3.azuredatabricks.net\nauth_type = databricks-cli\n"
	if string(b) != want {
		t.Fatalf("rewritten config:\n%s\nwant:\n%s", b, want)
	}
}

// A cache that is not JSON is named, nothing is imported from it, and
// neither it nor the config changes; the cache is found under $HOME.
func TestImportOAuthBrokenTokenCacheChangesNothing(t *testing.T) {
	f := newFakeDaemon(t)
	f.with(func(f *fakeDaemon) { f.metadata = &pb.MetadataURLResponse{Url: "http://127.0.0.1:1/x"} })
	home := t.TempDir()
	cfg := filepath.Join(home, ".databrickscfg")
	cache := filepath.Join(home, ".databricks", "token-cache.json")
	const broken = `{"version": 1, "tokens": {"cli": {"refresh_token": "rt-broken-0123456789"`
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(oauthCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cache, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", map[string]string{"HOME": home}, "import", "--all")
	if code == exitOK || !strings.Contains(errOut, cache+" is not valid JSON") || !strings.Contains(errOut, "[cli] NOT imported") ||
		strings.Contains(out+errOut, "rt-broken") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(cache); string(b) != broken {
		t.Fatalf("the broken cache changed:\n%s", b)
	}
	if b, _ := os.ReadFile(cfg); string(b) != oauthCfg {
		t.Fatalf("the config changed:\n%s", b)
	}
	if backups, _ := filepath.Glob(cache + ".dbx-cred-backup-*"); len(backups) != 0 {
		t.Fatalf("backups of the broken cache: %v", backups)
	}
	if n := len(f.oauthImportRequests()); n != 0 {
		t.Fatalf("%d logins imported from a broken cache", n)
	}
}

// An import cut short after dbx-credd stored a login taken from the CLI's
// OS keyring, but before it deleted the item (it crashed, or the delete
// failed), is resumed; the item still holds the superseded refresh token,
// which the CLI would present, revoking the daemon's login: the resumed
// import has the daemon take it over (answered from the profile) and
// delete it.
func TestImportOAuthResumeDropsTheCLIKeyringItem(t *testing.T) {
	f := newFakeDaemon(t)
	const md = "http://127.0.0.1:1/dbx-cred/u2m/metadata"
	const host = "https://adb-3.azuredatabricks.net"
	f.with(func(f *fakeDaemon) {
		f.metadata = &pb.MetadataURLResponse{Url: md}
		f.cliKeyring = map[string]bool{host: true}
		f.profiles = []*pb.Profile{{Name: "keyring", Host: host, Kind: pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M,
			State: pb.ProfileState_PROFILE_STATE_READY, UserName: "someone@example.com"}}
	})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "databrickscfg")
	if err := os.WriteFile(cfg, []byte("[keyring]\nhost = "+host+"\nauth_type = databricks-cli\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", nil, "import", "--config", cfg, "--token-cache", filepath.Join(dir, "none.json"), "-p", "keyring")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	reqs := f.oauthImportRequests()
	if len(reqs) != 1 || reqs[0].GetRefreshToken() != "" || strings.Join(reqs[0].GetCliKeyringKeys(), " ") != "keyring "+host {
		t.Fatalf("the resumed import left the CLI's keyring item alone: ImportOAuth requests %v\n%s%s", reqs, out, errOut)
	}
	if !strings.Contains(out, "which is deleted") {
		t.Fatalf("output does not say the item is deleted:\n%s%s", out, errOut)
	}
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "metadata_service_url = "+md) {
		t.Fatalf("the profile was not rewritten:\n%s", b)
	}
}

// A dbx-credd from before cli_keyring_keys ignores them and refuses the
// empty refresh token: that is no CLI login it can read, and the profile
// is skipped as before, not failed.
func TestImportOAuthKeyringWithAnOlderDaemonSkips(t *testing.T) {
	f := newFakeDaemon(t)
	f.with(func(f *fakeDaemon) {
		f.importFails = map[string]error{"keyring": status.Error(codes.InvalidArgument,
			"bad input: the refresh token is empty: import needs the refresh_token of the other tool's login")}
	})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "databrickscfg")
	const data = "[keyring]\nhost = https://adb-3.azuredatabricks.net\nauth_type = databricks-cli\n"
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", nil, "import", "--config", cfg, "--token-cache", filepath.Join(dir, "none.json"), "-p", "keyring")
	if code != exitOK || !strings.Contains(out, "[keyring] skipped") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(cfg); string(b) != data {
		t.Fatalf("the profile changed:\n%s", b)
	}
}
