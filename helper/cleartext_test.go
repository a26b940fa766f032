package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An http:// host that is not this machine would get the PAT in clear: the
// helper refuses it before the token is read or sent, whatever the
// daemon would do, unless --insecure-http says the user means it; then
// the daemon is told so too.
func TestLoginRefusesCleartextHost(t *testing.T) {
	f := newFakeDaemon(t)
	_, errOut, code := f.run(testPAT+"\n", nil, "login", "-p", "prod", "--host", "http://adb-1.azuredatabricks.net")
	if code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{"http://adb-1.azuredatabricks.net", "unencrypted", "https://adb-1.azuredatabricks.net", "--insecure-http"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
	if got := f.loginRequests(); len(got) != 0 {
		t.Fatalf("the daemon got %d login requests for a refused host", len(got))
	}

	for _, tt := range []struct {
		host     string
		insecure bool
	}{
		{"http://127.0.0.1:8080", false},
		{"http://localhost:8080", false},
		{"adb-1.azuredatabricks.net", false},
		{"http://adb-1.azuredatabricks.net", true},
	} {
		args := []string{"login", "-p", "prod", "--host", tt.host}
		if tt.insecure {
			args = append(args, "--insecure-http")
		}
		if _, errOut, code := f.run(testPAT+"\n", nil, args...); code != exitOK {
			t.Errorf("login %v: exit %d: %s", args, code, errOut)
		}
	}
	got := f.loginRequests()
	if len(got) != 4 || got[0].GetInsecureHttp() || !got[3].GetInsecureHttp() {
		t.Errorf("login requests %v: want 4, only the last with insecure_http", got)
	}
}

func TestImportRefusesCleartextHost(t *testing.T) {
	f := newFakeDaemon(t)
	f.with(func(f *fakeDaemon) { f.metadata = nil })
	cfg := filepath.Join(t.TempDir(), "databrickscfg")
	orig := "[lab]\nhost = http://10.1.2.3:8080\ntoken = " + testPAT + "\n"
	if err := os.WriteFile(cfg, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run("", nil, "import", "--config", cfg, "--all", "--dry-run")
	if code != exitOK || !strings.Contains(out, "unencrypted") {
		t.Errorf("dry run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = f.run("", nil, "import", "--config", cfg, "--all", "--via", "cli")
	if code == exitOK || !strings.Contains(errOut, "[lab] NOT imported") || !strings.Contains(errOut, "--insecure-http") {
		t.Errorf("import: exit %d, stderr %q", code, errOut)
	}
	if got := f.loginRequests(); len(got) != 0 {
		t.Fatalf("the daemon got %d login requests for a refused host", len(got))
	}
	if b, _ := os.ReadFile(cfg); string(b) != orig {
		t.Errorf("the file changed:\n%s", b)
	}

	_, errOut, _ = f.run("", nil, "import", "--config", cfg, "--all", "--via", "cli", "--insecure-http")
	if got := f.loginRequests(); len(got) != 1 || !got[0].GetInsecureHttp() || got[0].GetHost() != "http://10.1.2.3:8080" {
		t.Fatalf("with --insecure-http: login requests %v (stderr %q), want one with insecure_http", got, errOut)
	}
}
