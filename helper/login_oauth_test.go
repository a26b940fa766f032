package helper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordingBrowser is a $BROWSER that writes its argument count and each
// argument on a line of file.
func recordingBrowser(t *testing.T) (script, file string) {
	t.Helper()
	dir := t.TempDir()
	script, file = filepath.Join(dir, "browser"), filepath.Join(dir, "argv")
	body := "#!/bin/sh\nprintf '%s\\n' \"$#\" \"$@\" > " + file + ".tmp && mv " + file + ".tmp " + file + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, file
}

// waitFile returns file's contents once it exists, or "" after wait.
func waitFile(file string, wait time.Duration) string {
	for end := time.Now().Add(wait); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil {
			return string(b)
		}
	}
	return ""
}

// The URL is printed and handed to $BROWSER as one argument, after the
// entry's own arguments, from the first entry of the list that starts;
// over SSH the port forward is suggested; the request carries the flags.
func TestLoginOAuthPrintsTheURLAndRunsBrowser(t *testing.T) {
	f := newFakeDaemon(t)
	close(f.oauthFinish)
	script, file := recordingBrowser(t)
	env := map[string]string{"BROWSER": "/nonexistent/browser:" + script + " --new-window", "SSH_CONNECTION": "10.1.2.3 51000 10.0.0.5 22"}
	out, errOut, code := f.run("", env, "login", "-p", "me", "--host", "https://adb-1.azuredatabricks.net", "--oauth", "--scopes", "sql,offline_access")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	url := f.oauthBegin.GetAuthorizeUrl()
	if !strings.Contains(errOut, "\n  "+url+"\n") || !strings.Contains(errOut, "ssh -L 8020:localhost:8020 10.0.0.5\n") {
		t.Errorf("stderr lacks the URL or the ssh hint:\n%s", errOut)
	}
	if !strings.Contains(out, `Stored profile "me" (oauth-u2m): https://adb-1.azuredatabricks.net as someone@example.com`) {
		t.Errorf("stdout:\n%s", out)
	}
	if got, want := waitFile(file, 5*time.Second), "2\n--new-window\n"+url+"\n"; got != want {
		t.Errorf("$BROWSER argv:\n%q\nwant\n%q", got, want)
	}
	begins := f.oauthBeginRequests()
	if len(begins) != 1 || begins[0].GetProfile() != "me" || strings.Join(begins[0].GetScopes(), " ") != "sql offline_access" {
		t.Fatalf("begin requests: %v", begins)
	}
}

// Account-level U2M passes the account id; a non-22 ssh port gets -p.
func TestLoginOAuthAccountLevel(t *testing.T) {
	f := newFakeDaemon(t)
	close(f.oauthFinish)
	env := map[string]string{"SSH_CONNECTION": "10.1.2.3 51000 10.0.0.5 2222"}
	out, errOut, code := f.run("", env, "login", "-p", "acct", "--host", "https://accounts.cloud.databricks.com", "--account-id", "0f1e", "--oauth", "--no-browser")
	if code != exitOK || !strings.Contains(out, "(account 0f1e)") || !strings.Contains(errOut, "ssh -L 8020:localhost:8020 -p 2222 10.0.0.5") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if b := f.oauthBeginRequests(); len(b) != 1 || b[0].GetAccountId() != "0f1e" {
		t.Fatalf("begin requests: %v", b)
	}
}

func TestLoginOAuthNoBrowserRunsNone(t *testing.T) {
	f := newFakeDaemon(t)
	close(f.oauthFinish)
	script, file := recordingBrowser(t)
	_, errOut, code := f.run("", map[string]string{"BROWSER": script}, "login", "-p", "me", "--host", "https://adb-1.azuredatabricks.net", "--oauth", "--no-browser")
	if code != exitOK || !strings.Contains(errOut, f.oauthBegin.GetAuthorizeUrl()) || strings.Contains(errOut, "ssh -L") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := waitFile(file, 300*time.Millisecond); got != "" {
		t.Fatalf("--no-browser ran $BROWSER: %q", got)
	}
}

// What a browser login cannot use is refused before the daemon is asked.
func TestLoginOAuthRefusesConflicts(t *testing.T) {
	f := newFakeDaemon(t)
	base := []string{"login", "-p", "me", "--host", "https://adb-1.azuredatabricks.net"}
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--oauth", "--client-id", "app-1"}, "pick one"},
		{"", []string{"--oauth", "--static"}, "leave them out"},
		{"", []string{"--oauth", "--token-lifetime", "30m"}, "leave them out"},
		{"dapi-piped\n", []string{"--oauth"}, "one was piped to stdin"},
		{"", []string{"--scopes", "sql"}, "add --oauth"},
		{"", []string{"--no-browser"}, "add --oauth"},
		{"", []string{"--account-id", "0f1e"}, "or --oauth"},
	} {
		_, errOut, code := f.run(tc.stdin, nil, append(append([]string{}, base...), tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "dapi-piped") {
			t.Errorf("login %v: exit %d, %q; want 64 and %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := len(f.oauthBeginRequests()) + len(f.loginRequests()); n != 0 {
		t.Fatalf("refused logins reached the daemon: %d requests", n)
	}
}

// Ctrl-C while waiting for the browser ends the Await call (which the
// daemon takes as cancelling the login), says so, and exits 130.
func TestLoginOAuthCtrlCCancels(t *testing.T) {
	f := newFakeDaemon(t)
	cmd := f.helperCommand(t, "login", "-p", "me", "--host", "https://adb-1.azuredatabricks.net", "--oauth", "--no-browser")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.oauthAwaiting:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the helper never called AwaitOAuthLogin")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(stderr.String(), "login cancelled") {
		t.Fatalf("exit %d (%v): %s", code, err, stderr.String())
	}
	select {
	case <-f.oauthCancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the fake daemon never saw the Await call end")
	}
}
