package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// metadataDefaultEnv mirrors daemon.MetadataDefaultEnv: the metadata
// service's preferred address in test builds, instead of 127.0.0.1:8471.
const metadataDefaultEnv = "DBX_CRED_TEST_METADATA_DEFAULT"

// testHookEnvs are the variables only a -tags dbxcredtest dbx-credd reads
// (daemon/testhooks_on.go).
var testHookEnvs = []string{crashEnv, metadataDefaultEnv}

// TestReleaseBuildHasNoTestHooks builds dbx-credd as a release is built (no
// tags) and proves the test hooks are not in it: not one of their variable
// names is in the binary, so nothing in a user's environment can make it
// exit on purpose. The harness's own test build is the control: the same
// check must find the names there, or the check proves nothing.
func TestReleaseBuildHasNoTestHooks(t *testing.T) {
	t.Parallel()
	if !built.ok() {
		t.Fatal("binaries not built")
	}
	dir := t.TempDir()
	release, releaseHelper := filepath.Join(dir, "dbx-credd"), filepath.Join(dir, "dbx-cred")
	if out, err := exec.Command("go", "build", "-o", dir+"/", "../cmd/dbx-credd", "../cmd/dbx-cred").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	contains := func(bin, s string) bool {
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, []byte(s))
	}
	for _, env := range testHookEnvs {
		if !contains(built.daemon, env) {
			t.Fatalf("the test build does not contain %s: the check is broken", env)
		}
		if contains(release, env) {
			t.Errorf("a release build of dbx-credd contains %s: its test hook is compiled in", env)
		}
	}
	// The helper's import has a crash hook of the same name.
	if !contains(built.helper, crashEnv) {
		t.Fatalf("the test build of dbx-cred does not contain %s: the check is broken", crashEnv)
	}
	if contains(releaseHelper, crashEnv) {
		t.Errorf("a release build of dbx-cred contains %s: its test hook is compiled in", crashEnv)
	}
	// The build settings say the same, as "go version -m" shows a user.
	info := func(bin string) string {
		out, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatalf("go version -m %s: %v", bin, err)
		}
		return string(out)
	}
	if tag := "-tags=" + testBuildTag; !strings.Contains(info(built.daemon), tag) || strings.Contains(info(release), tag) {
		t.Errorf("build settings: the test build should say %s, the release build not", tag)
	}
}
