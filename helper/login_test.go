package helper

import (
	"strings"
	"testing"
)

// A service principal's client secret travels as a PAT does: read from
// stdin, sent with the client id, never in argv; and the PAT-only flags
// are refused before it is read.
func TestLoginClientIDSendsTheSecretFromStdin(t *testing.T) {
	f := newFakeDaemon(t)
	const secret = "sp-secret-from-stdin"
	if _, errOut, code := f.run(secret+"\n", nil, "login", "-p", "ci", "--host", "https://adb-1.azuredatabricks.net", "--client-id", "app-1"); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := f.loginRequests()
	if len(got) != 1 || got[0].GetClientId() != "app-1" || got[0].GetToken() != secret {
		t.Fatalf("login requests: %v", got)
	}
	for _, extra := range [][]string{{"--static"}, {"--token-lifetime", "30m"}} {
		args := append([]string{"login", "-p", "ci", "--host", "https://adb-1.azuredatabricks.net", "--client-id", "app-1"}, extra...)
		_, errOut, code := f.run(secret+"\n", nil, args...)
		if code != exitUsage || !strings.Contains(errOut, "leave them out") {
			t.Errorf("login %v: exit %d, %q", extra, code, errOut)
		}
	}
	if n := len(f.loginRequests()); n != 1 {
		t.Fatalf("refused flags still reached the daemon: %d requests", n)
	}
}
