package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/databricks/databricks-sdk-go"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// importWorld is a world with a daemon and a ~/.databrickscfg the SDK in
// this process reads (DATABRICKS_CONFIG_FILE, isolated environment).
func importWorld(t *testing.T, cfg func(w *world) string) (*world, string) {
	t.Helper()
	w := newWorld(t)
	w.startDaemon()
	cliHookEnv(t, w, cfg(w))
	return w, filepath.Join(w.env["HOME"], ".databrickscfg")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// backups returns the import's backups of path, checking each is 0600.
func backups(t *testing.T, path string) []string {
	t.Helper()
	m, _ := filepath.Glob(path + ".dbx-cred-backup-*")
	for _, b := range m {
		if st, err := os.Stat(b); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("backup %s: %v, mode %v", b, err, st.Mode())
		}
	}
	return m
}

func temps(path string) []string {
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".dbx-cred-tmp-*"))
	return m
}

func metadataURLOf(t *testing.T, w *world, profile string) string {
	t.Helper()
	r, err := w.agent().MetadataURL(context.Background(), &pb.MetadataURLRequest{Profile: profile})
	if err != nil {
		t.Fatalf("MetadataURL %s: %v", profile, err)
	}
	return r.GetUrl()
}

func wantMe(t *testing.T, cfg *databricks.Config, user string) {
	t.Helper()
	got, err := sdkCurrentUser(t, cfg)
	if err != nil || got != user {
		t.Fatalf("SDK CurrentUser.Me for profile %q: %q, %v; want %q", cfg.Profile, got, err, user)
	}
}

func TestImportRewritesDatabrickscfg(t *testing.T) {
	original := ""
	w, path := importWorld(t, func(w *world) string {
		original = "; team config: keep this comment\n[__settings__]\ndefault_profile = prod\n\n" +
			"[DEFAULT]\ncluster_id = 0123-456\n\n" +
			"[prod]\nhost      = " + w.srv.URL + "   # the emulator\ntoken     = " + w.pat + "\nwarehouse_id = wh1\n\n" +
			"# this token is wrong on purpose\n[bad]\nhost = " + w.srv.URL + "\ntoken = dapi-not-a-real-token\n\n" +
			"[notoken]\nhost = " + w.srv.URL + "\n"
		return original
	})
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}

	// The dry run shows the plan and changes nothing: no login, no backup.
	out, errOut, code := w.helper("", "import", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, "[prod]") || !strings.Contains(out, w.srv.URL) || !strings.Contains(out, "no token") ||
		strings.Contains(out+errOut, w.pat) {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if readFile(t, path) != original || len(backups(t, path)) != 0 || strings.Contains(w.mustHelper("", "list", "--json"), "prod") {
		t.Fatal("the dry run changed something")
	}

	out, errOut, code = w.helper("", "import", "--all")
	if code != 1 || !strings.Contains(out, "[prod] imported") || !strings.Contains(out, "the token is in the OS keyring") || !strings.Contains(errOut, "[bad] NOT imported") ||
		!strings.Contains(out, "[notoken] skipped") || !strings.Contains(errOut, "WARNING") || strings.Contains(out+errOut, w.pat) {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Next steps suggest installing the service only where one can be.
	if _, err := os.Stat("/run/systemd/system"); err != nil && (strings.Contains(out, "dbx-credd install") || !strings.Contains(out, "no service manager here")) {
		t.Errorf("without systemd, next steps:\n%s", out)
	}
	url := metadataURLOf(t, w, "prod")
	want := strings.Replace(original, "token     = "+w.pat+"\nwarehouse_id = wh1\n",
		"warehouse_id = wh1\nauth_type = metadata-service\nmetadata_service_url = "+url+"\n", 1)
	if got := readFile(t, path); got != want {
		t.Fatalf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	// 0600 now, and said: the metadata URL it holds is a credential.
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 || !strings.Contains(out, "now mode 0600 (it was 0640)") {
		t.Fatalf("mode %v, want 0600 and said so; stdout:\n%s", st.Mode(), out)
	}
	b := backups(t, path)
	if len(b) != 1 || readFile(t, b[0]) != original || !strings.Contains(errOut, b[0]) {
		t.Fatalf("backups %v; stderr %s", b, errOut)
	}
	if v, ok := w.ss.lookup("prod"); !ok || !strings.Contains(v, w.pat) {
		t.Fatal("prod's token is not in the keyring")
	}
	if _, ok := w.ss.lookup("bad"); ok {
		t.Fatal("the rejected token was stored")
	}

	// The real SDK reaches the emulator through the daemon, by profile name
	// and through [__settings__] default_profile.
	wantMe(t, &databricks.Config{Profile: "prod"}, w.user)
	wantMe(t, &databricks.Config{}, w.user)

	// Once the user deletes the backup, as told, no copy of the token is
	// left on disk.
	os.Remove(b[0])
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
}

func TestImportViaCLIKeepTokenAndExport(t *testing.T) {
	var pat2 string
	w, path := importWorld(t, func(w *world) string {
		pat2 = w.emu.AddUser("bob@example.com")
		return "[prod]\nhost = " + w.srv.URL + "\ntoken = " + w.pat + "\n\n[keep]\nhost = " + w.srv.URL + "\ntoken = " + pat2 + "\n"
	})
	exe, _ := filepath.EvalSymlinks(built.helper)

	// The Databricks CLI never runs databricks_cli_path: --via cli says so
	// whenever it writes such a profile.
	_, errOut, code := w.helper("", "import", "-p", "prod", "--via", "cli")
	if code != 0 || !strings.Contains(errOut, "WARNING: the Databricks CLI will not use a profile with auth_type = databricks-cli") {
		t.Fatalf("import --via cli: exit %d, no warning that the CLI ignores it: %s", code, errOut)
	}
	want := "[prod]\nhost = " + w.srv.URL + "\nauth_type = databricks-cli\ndatabricks_cli_path = " + exe + "\n\n[keep]\nhost = " + w.srv.URL + "\ntoken = " + pat2 + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("after --via cli:\n%s\nwant:\n%s", got, want)
	}
	wantMe(t, &databricks.Config{Profile: "prod"}, w.user)

	// --keep-token: logged in, auth_type set, the token line stays.
	w.mustHelper("", "import", "-p", "keep", "--keep-token")
	want = strings.Replace(want, "token = "+pat2+"\n", "token = "+pat2+"\nauth_type = metadata-service\nmetadata_service_url = "+metadataURLOf(t, w, "keep")+"\n", 1)
	if got := readFile(t, path); got != want {
		t.Fatalf("after --keep-token:\n%s\nwant:\n%s", got, want)
	}
	wantMe(t, &databricks.Config{Profile: "keep"}, "bob@example.com")

	// Importing again changes nothing and leaves no new backup.
	n := len(backups(t, path))
	w.mustHelper("", "import", "--all", "--keep-token")
	if readFile(t, path) != want || len(backups(t, path)) != n {
		t.Fatal("a second import changed the file or made a backup")
	}

	// export prints blocks the SDK can use as they are.
	block := w.mustHelper("", "export", "-p", "prod", "--format", "databrickscfg")
	if wantBlock := "[prod]\nhost = " + w.srv.URL + "\nauth_type = metadata-service\nmetadata_service_url = " + metadataURLOf(t, w, "prod") + "\n"; block != wantBlock {
		t.Fatalf("export:\n%s\nwant:\n%s", block, wantBlock)
	}
	cliHookEnv(t, w, block)
	wantMe(t, &databricks.Config{Profile: "prod"}, w.user)
	block, errOut, code = w.helper("", "export", "-p", "prod", "--via", "cli")
	if code != 0 || !strings.Contains(block, "auth_type = databricks-cli\ndatabricks_cli_path = "+exe+"\n") ||
		!strings.Contains(errOut, "the Databricks CLI will not use") {
		t.Fatalf("export --via cli: exit %d\n%s\nstderr: %s", code, block, errOut)
	}
	cliHookEnv(t, w, block)
	wantMe(t, &databricks.Config{Profile: "prod"}, w.user)
	out, errOut, code := w.helper("", "export", "-p", "prod", "--with-token")
	if code != 0 || !strings.Contains(out, "\ntoken = ") || strings.Contains(out, "metadata_service_url") || !strings.Contains(errOut, "WARNING") {
		t.Fatalf("export --with-token: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := w.helper("", "export", "-p", "nope"); code != 3 || !strings.Contains(errOut, "unknown profile") {
		t.Fatalf("export of an unknown profile: exit %d: %s", code, errOut)
	}

	for _, b := range backups(t, path) {
		os.Remove(b)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
}

// TestImportSurvivesACrashAtEachStep kills the import (through its test
// hook) at each step and checks the invariants: the file is the old one or
// the new one, never anything else; every token is in the file or in the
// keyring; then a plain re-run finishes the job (logging the profiles in
// again, which must keep their new minted tokens alive).
func TestImportSurvivesACrashAtEachStep(t *testing.T) {
	for _, step := range []string{"after-backup", "after-login", "after-temp-write", "after-rename"} {
		t.Run(step, func(t *testing.T) {
			var pat2, original string
			w, path := importWorld(t, func(w *world) string {
				pat2 = w.emu.AddUser("bob@example.com")
				original = "# two profiles\n[prod]\nhost = " + w.srv.URL + "\ntoken = " + w.pat + "\n\n[stage]\nhost = " + w.srv.URL + "\ntoken = " + pat2 + "\n"
				return original
			})
			tokens := map[string]string{"prod": w.pat, "stage": pat2}
			final := func() string {
				return "# two profiles\n[prod]\nhost = " + w.srv.URL + "\nauth_type = metadata-service\nmetadata_service_url = " + metadataURLOf(t, w, "prod") +
					"\n\n[stage]\nhost = " + w.srv.URL + "\nauth_type = metadata-service\nmetadata_service_url = " + metadataURLOf(t, w, "stage") + "\n"
			}

			w.env["DBX_CRED_TEST_CRASH_AT"] = step // the daemon already runs: only the helper sees it
			_, errOut, code := w.helper("", "import", "--all")
			delete(w.env, "DBX_CRED_TEST_CRASH_AT")
			if code != 99 {
				t.Fatalf("import with the hook at %s: exit %d, want 99: %s", step, code, errOut)
			}

			cur := readFile(t, path)
			if step == "after-rename" {
				if cur != final() {
					t.Fatalf("after the rename the file is neither old nor new:\n%s", cur)
				}
			} else if cur != original {
				t.Fatalf("the file changed before the rename:\n%s", cur)
			}
			for profile, tok := range tokens {
				v, inKeyring := w.ss.lookup(profile)
				if !strings.Contains(cur, tok) && !(inKeyring && strings.Contains(v, tok)) {
					t.Fatalf("%s's token is in neither the file nor the keyring", profile)
				}
			}
			if step == "after-login" {
				if v, ok := w.ss.lookup("prod"); !ok || !strings.Contains(v, w.pat) {
					t.Fatal("the hook ran before the first login was stored")
				}
			}
			if b := backups(t, path); len(b) != 1 || readFile(t, b[0]) != original {
				t.Fatalf("backups after the crash: %v", b)
			}
			if n, want := len(temps(path)), map[bool]int{true: 1, false: 0}[step == "after-temp-write"]; n != want {
				t.Fatalf("%d temporary files, want %d", n, want)
			}

			// A plain re-run completes the import.
			out := w.mustHelper("", "import", "--all")
			if got := readFile(t, path); got != final() {
				t.Fatalf("after the re-run:\n%s\nwant:\n%s\n(output %s)", got, final(), out)
			}
			if n := len(temps(path)); n != 0 {
				t.Fatalf("%d temporary files left after the re-run", n)
			}
			wantMe(t, &databricks.Config{Profile: "prod"}, w.user)
			wantMe(t, &databricks.Config{Profile: "stage"}, "bob@example.com")
		})
	}
}

// TestImportServicePrincipalProfile: a client_secret profile is logged in
// as OAuth M2M and rewritten to the hook like a PAT profile; a wrong
// secret leaves its profile as it was while the others go ahead.
func TestImportServicePrincipalProfile(t *testing.T) {
	requireTools(t, "secret-tool")
	const appID, secret = "6a1c7e0f-sp-import", "dose-import-client-secret-0123456789abcdef"
	const badID, wrong = "7b2d8f10-sp-bad", "dose-import-wrong-secret-fedcba9876543210"
	original := ""
	w, path := importWorld(t, func(w *world) string {
		w.emu.AddServicePrincipal(appID, secret)
		w.emu.AddServicePrincipal(badID, "dose-the-right-secret-0123456789")
		original = "[pat]\nhost = " + w.srv.URL + "\ntoken = " + w.pat + "\n\n" +
			"# a service principal\n[sp]\nhost          = " + w.srv.URL + "\nclient_id     = " + appID + "\nclient_secret = " + secret + "\n\n" +
			"[spbad]\nhost = " + w.srv.URL + "\nclient_id = " + badID + "\nclient_secret = " + wrong + "\n"
		return original
	})
	noSecret := func(what, s string) {
		t.Helper()
		for _, sec := range []string{w.pat, secret, wrong} {
			if strings.Contains(s, sec) {
				t.Fatalf("%s holds a secret:\n%s", what, s)
			}
		}
	}

	out, errOut, code := w.helper("", "import", "--all", "--dry-run")
	if code != 0 || !strings.Contains(out, "[sp]") || !strings.Contains(out, "service principal "+appID) ||
		!strings.Contains(out, "remove client_secret") || !strings.Contains(out, "[spbad]") || !strings.Contains(out, "remove token") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	noSecret("the dry run's output", out+errOut)
	if readFile(t, path) != original || len(backups(t, path)) != 0 || w.emu.OAuthStats().ClientCredentials != 0 {
		t.Fatal("the dry run changed something or logged in")
	}

	out, errOut, code = w.helper("", "import", "--all")
	if code != 1 || !strings.Contains(out, "[pat] imported") || !strings.Contains(out, "[sp] imported") ||
		!strings.Contains(out, "service principal "+appID) || !strings.Contains(errOut, "[spbad] NOT imported") ||
		!strings.Contains(errOut, "refused client id "+badID) {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	noSecret("the import's output", out+errOut)
	want := "[pat]\nhost = " + w.srv.URL + "\nauth_type = metadata-service\nmetadata_service_url = " + metadataURLOf(t, w, "pat") + "\n\n" +
		"# a service principal\n[sp]\nhost          = " + w.srv.URL + "\nclient_id     = " + appID +
		"\nauth_type     = metadata-service\nmetadata_service_url = " + metadataURLOf(t, w, "sp") + "\n\n" +
		"[spbad]\nhost = " + w.srv.URL + "\nclient_id = " + badID + "\nclient_secret = " + wrong + "\n"
	got := readFile(t, path)
	if got != want {
		t.Fatalf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, secret) || strings.Contains(got, w.pat) {
		t.Fatal("an imported secret is still in the file")
	}
	if b := backups(t, path); len(b) != 1 || readFile(t, b[0]) != original {
		t.Fatalf("backups %v", b)
	}
	if p := list(t, w)["sp"]; p.Kind != "oauth-m2m" || p.UserName != appID {
		t.Fatalf("list: %+v", p)
	}
	if _, ok := list(t, w)["spbad"]; ok {
		t.Fatal("the refused secret made a profile")
	}

	// The daemon serves the service principal: its tokens are the
	// application id's at the workspace, and the real SDK uses the
	// rewritten profile by name.
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "sp"))
	if tok == secret || scimMe(t, w, tok) != appID {
		t.Fatalf("token -p sp does not authenticate as %s", appID)
	}
	wantMe(t, &databricks.Config{Profile: "sp"}, appID)
	wantMe(t, &databricks.Config{Profile: "pat"}, w.user)

	// Once the backup is gone, no imported secret is left on disk, and
	// none is in the daemon's log.
	for _, b := range backups(t, path) {
		os.Remove(b)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(secret)
	w.assertNoSecretOnDisk(w.pat)
	noSecret("the daemon's log", w.daemonLog())
}

// After a logout, a .databrickscfg section that import pointed at dbx-credd
// is dead: logout says which line and what to do, and doctor flags it. A
// file that does not parse gets its line named, not "import".
func TestLogoutAndDoctorFlagADeadMetadataURL(t *testing.T) {
	w, path := importWorld(t, func(w *world) string {
		return "[prod]\nhost = " + w.srv.URL + "\ntoken = " + w.pat + "\n"
	})
	w.mustHelper("", "import", "-p", "prod")
	if out, _, _ := w.helper("", "doctor"); !strings.Contains(out, "[ OK ] config.prod.metadata_url") {
		t.Fatalf("doctor after import:\n%s", out)
	}
	_, errOut, code := w.helper("", "logout", "-p", "prod")
	if code != 0 || !strings.Contains(errOut, path+" [prod] (line 4) still sends tools to dbx-credd") || !strings.Contains(errOut, "--host "+w.srv.URL) || !strings.Contains(errOut, "dbx-cred metadata-url -p prod") {
		t.Fatalf("logout: exit %d, stderr %q", code, errOut)
	}
	if out, _, _ := w.helper("", "doctor"); !strings.Contains(out, "[FAIL] config.prod.metadata_url: "+path+" [prod] line 4 sends tools to dbx-credd, which has no profile prod") {
		t.Fatalf("doctor after logout:\n%s", out)
	}
	if err := os.WriteFile(path, []byte("[prod\nhost = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, _ := w.helper("", "doctor"); !strings.Contains(out, "does not parse, line 1:") || !strings.Contains(out, "fix line 1 of "+path) {
		t.Fatalf("doctor with a broken file:\n%s", out)
	}
}
