package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// A service principal profile is logged in as M2M (client_id set, the
// secret in token, never --static) and loses only its client_secret line;
// profiles whose service principal entries are incomplete or ambiguous are
// reported and left alone.
func TestImportServicePrincipalRequestAndPlan(t *testing.T) {
	f := newFakeDaemon(t)
	const md = "http://127.0.0.1:1/dbx-cred/sp/metadata"
	f.with(func(f *fakeDaemon) { f.metadata = &pb.MetadataURLResponse{Url: md} })
	const secret = "dose-unit-client-secret-0123456789"
	cfg := filepath.Join(t.TempDir(), "databrickscfg")
	orig := "[sp]\nhost = https://adb-1.azuredatabricks.net\nclient_id = app-1\nclient_secret = " + secret + "\n\n" +
		"[both]\nhost = https://adb-1.azuredatabricks.net\ntoken = " + testPAT + "\nclient_id = app-2\nclient_secret = s2\n\n" +
		"[noid]\nhost = https://adb-1.azuredatabricks.net\nclient_secret = s3\n\n" +
		"[nohost]\nclient_id = app-4\nclient_secret = s4\n\n" +
		"[idonly]\nhost = https://adb-1.azuredatabricks.net\nclient_id = app-5\n"
	if err := os.WriteFile(cfg, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", nil, "import", "--config", cfg, "--all", "--dry-run")
	if code != exitOK || !strings.Contains(out, "service principal app-1") || !strings.Contains(out, "remove client_secret") ||
		!strings.Contains(out, "both a token and a client_secret") || !strings.Contains(out, "no client_id") ||
		!strings.Contains(out, "no host") || !strings.Contains(out, "[idonly]") || strings.Contains(out, secret) {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if got := f.loginRequests(); len(got) != 0 {
		t.Fatalf("the dry run logged %d profiles in", len(got))
	}

	out, errOut, code = f.run("", nil, "import", "--config", cfg, "--all", "--static")
	if code == exitOK || !strings.Contains(out, "[sp] imported") || !strings.Contains(out, "service principal") ||
		!strings.Contains(errOut, "[both] NOT imported") || !strings.Contains(errOut, "[noid] NOT imported") ||
		!strings.Contains(errOut, "[nohost] NOT imported") || !strings.Contains(out, "[idonly] skipped") {
		t.Fatalf("import: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	got := f.loginRequests()
	if len(got) != 1 || got[0].GetProfile() != "sp" || got[0].GetClientId() != "app-1" || got[0].GetToken() != secret || got[0].GetStatic() {
		t.Fatalf("login requests %v: want one M2M login of sp, not static", got)
	}
	b, _ := os.ReadFile(cfg)
	want := strings.Replace(orig, "client_secret = "+secret+"\n", "auth_type = metadata-service\nmetadata_service_url = "+md+"\n", 1)
	if string(b) != want {
		t.Fatalf("rewritten file:\n%s\nwant:\n%s", b, want)
	}
}

// import of a file that does not exist says so, and where its name came
// from, instead of an lstat error.
func TestImportOfAMissingFileSaysItDoesNotExist(t *testing.T) {
	f := newFakeDaemon(t)
	missing := filepath.Join(t.TempDir(), "nope.cfg")
	_, errOut, code := f.run("", nil, "import", "--all", "--config", missing)
	if code != exitUsage || !strings.Contains(errOut, missing+" does not exist: check the path given to --config") || strings.Contains(errOut, "lstat") {
		t.Errorf("--config: exit %d, %q", code, errOut)
	}
	_, errOut, _ = f.run("", map[string]string{"DATABRICKS_CONFIG_FILE": missing}, "import", "--all")
	if !strings.Contains(errOut, "DATABRICKS_CONFIG_FILE names it") {
		t.Errorf("env: %q", errOut)
	}
	_, errOut, code = f.run("", map[string]string{"HOME": t.TempDir()}, "import", "--all")
	if code != exitFailure || !strings.Contains(errOut, "does not exist, so there is nothing to import") {
		t.Errorf("default: exit %d, %q", code, errOut)
	}
}
