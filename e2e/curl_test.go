package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCurlReadsTheTokenFromConfigAndNetrc runs the real curl through bash's
// process substitution, the documented way: the token reaches curl through a
// pipe, never its argv.
func TestCurlReadsTheTokenFromConfigAndNetrc(t *testing.T) {
	requireTools(t, "bash", "curl")
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	for name, script := range map[string]string{
		"curl-config": `curl -sS --fail -K <("$DBX" curl-config -p prod) "$URL/api/2.0/preview/scim/v2/Me"`,
		"netrc":       `curl -sS --fail --netrc-file <("$DBX" netrc -p prod) "$URL/api/2.0/preview/scim/v2/Me"`,
	} {
		cmd := exec.Command("bash", "-c", script)
		cmd.Env = append(w.environ(), "DBX="+built.helper, "URL="+w.srv.URL)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"userName":"`+w.user+`"`) && !strings.Contains(string(out), `"userName": "`+w.user+`"`) {
			t.Errorf("%s: %v: %s", name, err, out)
		}
	}
	// Control: the same request without credentials is refused, so the
	// success above came from dbx-cred.
	cmd := exec.Command("curl", "-sS", "--fail", w.srv.URL+"/api/2.0/preview/scim/v2/Me")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("the emulator answered without a token: %s", out)
	}
}
