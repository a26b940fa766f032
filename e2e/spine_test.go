package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type listed struct {
	Name, Host, UserName, Kind, State, StateMessage, Mode string
}

func list(t *testing.T, w *world) map[string]listed {
	t.Helper()
	var raw []struct {
		Name         string `json:"name"`
		Host         string `json:"host"`
		UserName     string `json:"user_name"`
		Kind         string `json:"kind"`
		State        string `json:"state"`
		StateMessage string `json:"state_message"`
		Mode         string `json:"mode"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "list", "--json")), &raw); err != nil {
		t.Fatal(err)
	}
	out := map[string]listed{}
	for _, p := range raw {
		out[p.Name] = listed{p.Name, p.Host, p.UserName, p.Kind, p.State, p.StateMessage, p.Mode}
	}
	return out
}

func TestLoginTokenEnvListLogoutAcrossRestart(t *testing.T) {
	requireTools(t, "bash", "secret-tool")
	w := newWorld(t)
	w.startDaemon()

	// The host is typed with a trailing slash; it is stored normalised.
	out := w.mustHelper(w.pat+"\n", "login", "--profile", "prod", "--host", w.srv.URL+"/")
	if !strings.Contains(out, w.user) || strings.Contains(out, w.pat) {
		t.Fatalf("login output: %q", out)
	}
	// A rotating profile (the default) hands out a minted token, never the
	// stored one.
	derived := strings.TrimSuffix(w.mustHelper("", "token", "-p", "prod"), "\n")
	if derived == w.pat || strings.ContainsAny(derived, " \n") {
		t.Fatalf("token printed %q", derived)
	}
	if u, ok := w.emu.Authenticate(derived); !ok || u != w.user {
		t.Fatal("the printed token does not work in the workspace")
	}
	// DATABRICKS_CONFIG_PROFILE is the default profile.
	w.env["DATABRICKS_CONFIG_PROFILE"] = "prod"
	if got := w.mustHelper("", "token"); got != derived+"\n" {
		t.Fatalf("token via DATABRICKS_CONFIG_PROFILE printed %q", got)
	}
	delete(w.env, "DATABRICKS_CONFIG_PROFILE")

	// env evaluated by a real bash.
	script := fmt.Sprintf(`eval "$(%s env -p prod)" && printf '%%s\n%%s' "$DATABRICKS_HOST" "$DATABRICKS_TOKEN"`, built.helper)
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = w.environ()
	got, err := cmd.Output()
	if err != nil || string(got) != w.srv.URL+"\n"+derived {
		t.Fatalf("bash eval: %q, %v", got, err)
	}

	l := list(t, w)
	if p := l["prod"]; p.Host != w.srv.URL || p.UserName != w.user || p.State != "ready" || p.Kind != "derived-pat" || p.Mode != "rotating" {
		t.Fatalf("list: %+v", l)
	}
	if table := w.mustHelper("", "list"); !strings.Contains(table, "prod") || strings.Contains(table, w.pat) {
		t.Fatalf("list table: %q", table)
	}
	if v, ok := w.ss.lookup("prod"); !ok || !strings.Contains(v, w.pat) {
		t.Fatal("the PAT is not in the Secret Service under service dbx-cred")
	}

	// A restarted daemon serves the profile from the keyring.
	w.stopDaemon()
	if _, err := os.Stat(w.socket()); !os.IsNotExist(err) {
		t.Fatalf("socket left after SIGTERM: %v", err)
	}
	w.startDaemon()
	// The restarted daemon reuses the minted token it kept in the keyring.
	if got := w.mustHelper("", "token", "-p", "prod"); got != derived+"\n" {
		t.Fatalf("token after restart printed %q, want the kept %q", got, derived)
	}
	if p := list(t, w)["prod"]; p.State != "ready" {
		t.Fatalf("after restart, after use: %+v", p)
	}

	// The PAT is in neither the daemon's argv nor its environment.
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", w.daemon.Process.Pid))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.daemon.Process.Pid))
	if len(cmdline) == 0 || strings.Contains(string(cmdline)+string(environ), w.pat) {
		t.Fatalf("daemon argv/environ holds the PAT (or could not be read: %d bytes)", len(cmdline))
	}

	out = w.mustHelper("", "logout", "-p", "prod")
	if !strings.Contains(out, "prod") {
		t.Fatalf("logout output %q", out)
	}
	if _, ok := w.ss.lookup("prod"); ok {
		t.Fatal("the keyring item survived logout")
	}
	if _, ok := w.emu.Authenticate(derived); ok {
		t.Fatal("logout did not revoke the minted token")
	}
	if _, errOut, code := w.helper("", "token", "-p", "prod"); code != 3 || !strings.Contains(errOut, "unknown profile") {
		t.Fatalf("token after logout: %d %q", code, errOut)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(derived)
	if !strings.Contains(w.daemonLog(), "profile logged in") {
		t.Fatal("the daemon log is missing (the secret scan would prove nothing)")
	}
}

func TestBadInputGetsClearErrorsAndStoresNothing(t *testing.T) {
	w := newWorld(t)

	// Daemon down.
	_, errOut, code := w.helper("", "token", "-p", "prod")
	if code != 2 || !strings.Contains(errOut, "dbx-credd is not running") || !strings.Contains(errOut, "dbx-credd run") {
		t.Fatalf("daemon down: %d %q", code, errOut)
	}

	w.startDaemon()
	cases := []struct {
		name      string
		stdin     string
		args      []string
		code      int
		wantInErr []string
	}{
		{"invalid PAT", "dapi00000000000000000000000000000000\n", []string{"login", "-p", "prod", "--host", w.srv.URL},
			4, []string{"rejected the token", "invalid, expired or revoked", "nothing was stored"}},
		{"unreachable host", w.pat + "\n", []string{"login", "-p", "prod", "--host", "http://127.0.0.1:1"},
			6, []string{"cannot reach workspace http://127.0.0.1:1"}},
		{"bad host", w.pat + "\n", []string{"login", "-p", "prod", "--host", "https://user@ws.example.com/"},
			64, []string{"invalid workspace host", "https://adb-"}},
		// A browser's address is cut to the workspace URL (and said so),
		// so this one fails where the workspace does, not as bad input.
		{"browser address", w.pat + "\n", []string{"login", "-p", "prod", "--host", "http://127.0.0.1:1/browse/folders/1?o=2#x"},
			6, []string{"using http://127.0.0.1:1, the workspace URL in", "cannot reach workspace http://127.0.0.1:1"}},
		{"garbage host", w.pat + "\n", []string{"login", "-p", "prod", "--host", "$(reboot)"},
			64, []string{"invalid workspace host", "https://adb-"}},
		{"no host", w.pat + "\n", []string{"login", "-p", "prod"}, 64, []string{"needs --host", "not logged in yet"}},
		{"empty token", "\n", []string{"login", "-p", "prod", "--host", w.srv.URL}, 64, []string{"no token given"}},
		{"token in argv", "", []string{"login", "-p", "prod", "--host", w.srv.URL, "dapi123"}, 64, []string{"unexpected argument"}},
		{"unknown profile, none yet", "", []string{"token", "-p", "nope"}, 3, []string{`unknown profile "nope"`, "dbx-cred login"}},
		{"unknown command", "", []string{"frobnicate"}, 64, []string{"unknown command"}},
		{"bad shell", "", []string{"env", "--shell", "tcsh"}, 64, []string{"fish"}},
	}
	for _, c := range cases {
		_, errOut, code := w.helper(c.stdin, c.args...)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d (%s)", c.name, code, c.code, errOut)
		}
		for _, s := range c.wantInErr {
			if !strings.Contains(errOut, s) {
				t.Errorf("%s: stderr %q lacks %q", c.name, errOut, s)
			}
		}
		if strings.Contains(errOut, w.pat) {
			t.Errorf("%s: the PAT is in the error", c.name)
		}
	}
	if l := list(t, w); len(l) != 0 {
		t.Fatalf("failed logins stored profiles: %+v", l)
	}
	if _, ok := w.ss.lookup("prod"); ok {
		t.Fatal("a failed login left a keyring item")
	}
	// Unknown profile lists the known ones.
	w.login("dev")
	w.login("prod")
	if _, errOut, code := w.helper("", "token", "-p", "nope"); code != 3 || !strings.Contains(errOut, "known profiles: dev, prod") {
		t.Fatalf("unknown profile: %d %q", code, errOut)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
}

func TestHelpTeaches(t *testing.T) {
	w := newWorld(t)
	out := w.mustHelper("", "--help")
	for _, s := range []string{"login", "token", "env", "Exit status", "DBX_CRED_SOCKET", "eval"} {
		if !strings.Contains(out, s) {
			t.Errorf("--help lacks %q", s)
		}
	}
	// Help asked for is output, not an error: stdout, as in gh and git.
	help, _, code := w.helper("", "login", "--help")
	if code != 0 || !strings.Contains(help, "hidden prompt") || !strings.Contains(help, "--host") {
		t.Errorf("login --help: %d %q", code, help)
	}
}

func TestOtherUIDIsRefused(t *testing.T) {
	requireTools(t, "setpriv")
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another uid")
	}
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	// Open the path up for this test only, as if the directory were shared:
	// the peer check must hold on its own.
	for p := filepath.Dir(w.socket()); p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	os.Chmod(w.socket(), 0o666)
	asNobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}
	// nobody's helper will not talk to a daemon in a directory that is not
	// nobody's (the helper's own check, see TestHelperRefusesSocketDirOfAnotherUser)...
	out, errOut, code := w.helperAs(asNobody, "", "token", "-p", "prod")
	if code != 2 || strings.Contains(out, w.pat) || !strings.Contains(errOut, "is owned by uid 0") {
		t.Fatalf("other uid's helper: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// ...so a raw gRPC call (curl speaking HTTP/2 over the socket) stands
	// in for a client that checks nothing: the daemon refuses it itself.
	requireTools(t, "curl")
	curl := exec.Command(asNobody[0], append(asNobody[1:], "curl", "-sS", "--max-time", "10", "--http2-prior-knowledge",
		"--unix-socket", w.socket(), "-H", "content-type: application/grpc", "-H", "te: trailers",
		"--data-binary", "@-", "-o", "/dev/null", "-D", "-", "http://localhost/dbxcred.v1.AgentService/GetToken")...)
	curl.Stdin = strings.NewReader("\x00\x00\x00\x00\x00") // an empty GetTokenRequest
	headers, err := curl.CombinedOutput()
	if err != nil || strings.Contains(string(headers), w.pat) || !strings.Contains(string(headers), "connection from uid 65534 refused") {
		t.Fatalf("other uid's raw call: %v:\n%s", err, headers)
	}
	if !strings.Contains(w.daemonLog(), "refused a connection from another user") || !strings.Contains(w.daemonLog(), "peer_uid=65534") {
		t.Fatalf("the refusal is not in the daemon log:\n%s", w.daemonLog())
	}
}

func TestSocketDirectoryMustBePrivate(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Dir(w.socket())

	os.MkdirAll(dir, 0o755)
	os.Chmod(dir, 0o755)
	err := w.tryStartDaemon()
	if err == nil || !strings.Contains(err.Error(), "accessible by group or others") || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("open dir: %v", err)
	}

	if os.Getuid() == 0 {
		os.Chmod(dir, 0o700)
		os.Chown(dir, 65534, 65534)
		err = w.tryStartDaemon()
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Fatalf("foreign owner: %v", err)
		}
		os.Chown(dir, 0, 0)
	}

	// A private directory works, and a second daemon is refused without
	// disturbing the first.
	os.Chmod(dir, 0o700)
	w.startDaemon()
	first := w.daemon
	err = w.tryStartDaemon()
	if err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second daemon: %v", err)
	}
	w.daemon = first
	if _, _, code := w.helper("", "status"); code != 0 {
		t.Fatal("the first daemon stopped serving after a second one was refused")
	}
}

func TestDaemonIsHardened(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	var st struct {
		Hardened bool `json:"hardened"`
		PID      int  `json:"pid"`
	}
	json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st)
	if !st.Hardened || st.PID != w.daemon.Process.Pid {
		t.Fatalf("status: %+v", st)
	}
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", st.PID))
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max core file size") {
			if f := strings.Fields(line); f[4] != "0" || f[5] != "0" {
				t.Fatalf("core dumps allowed: %q", line)
			}
			return
		}
	}
	t.Fatal("no core limit line in /proc/pid/limits")
}

func TestKeyringWithoutProvider(t *testing.T) {
	w := newWorld(t)
	// A bus on which nothing provides org.freedesktop.secrets and nothing
	// can be activated.
	w.env["DBUS_SESSION_BUS_ADDRESS"] = startBus(t, filepath.Join(w.root, "logs"), false)
	w.startDaemon("--keyring-timeout", "3s")
	start := time.Now()
	_, errOut, code := w.helper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL)
	if code != 5 || !strings.Contains(errOut, "no Secret Service provider") || !strings.Contains(errOut, "gnome-keyring") {
		t.Fatalf("no provider: %d %q", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
	if l := list(t, w); len(l) != 0 {
		t.Fatalf("stored a profile without a keyring: %+v", l)
	}
	w.stopDaemon()

	// No session bus at all: refused up front, no dbus-launch autolaunch.
	delete(w.env, "DBUS_SESSION_BUS_ADDRESS")
	w.startDaemon("--keyring-timeout", "3s")
	_, errOut, code = w.helper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL)
	if code != 5 || !strings.Contains(errOut, "no D-Bus session bus") {
		t.Fatalf("no bus: %d %q", code, errOut)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
}

func TestLockedKeyringKeepsServingWhatIsInMemory(t *testing.T) {
	w := newWorld(t)
	// Static profiles are read from the keyring at first use; rotating ones
	// are loaded at start to reuse and clean up their minted tokens.
	w.startDaemon("--keyring-timeout", "2s")
	w.mustHelper(w.pat+"\n", "login", "-p", "a", "--static", "--host", w.srv.URL)
	w.mustHelper(w.pat+"\n", "login", "-p", "b", "--static", "--host", w.srv.URL)
	w.stopDaemon()
	w.startDaemon("--keyring-timeout", "2s")
	w.mustHelper("", "token", "-p", "a") // a is now in memory, b is not

	w.ss.lock(t)
	start := time.Now()
	_, errOut, code := w.helper("", "token", "-p", "b")
	if code != 5 || !strings.Contains(errOut, "keyring") || !strings.Contains(errOut, "Fix:") {
		t.Fatalf("locked keyring: %d %q", code, errOut)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("a locked keyring held the helper for %s", d)
	}
	if got := w.mustHelper("", "token", "-p", "a"); got != w.pat+"\n" {
		t.Fatalf("profile in memory stopped serving: %q", got)
	}
	if p := list(t, w)["b"]; p.State != "keyring-unavailable" || p.StateMessage == "" {
		t.Fatalf("list after failure: %+v", p)
	}
	// The table says it in one word and points at status for the why.
	table, hint, _ := w.helper("", "list")
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		if f := strings.Fields(line); len(f) != 5 || f[0] == "b" && f[4] != "keyring-unavailable" {
			t.Fatalf("list: want PROFILE KIND HOST USER STATE, one word each:\n%s", table)
		}
	}
	if !strings.Contains(hint, "dbx-cred status -p b") {
		t.Fatalf("list does not say where the reason is: %q", hint)
	}
	if st := w.mustHelper("", "status", "-p", "b"); !strings.Contains(st, "profile b ") || strings.Contains(st, "profile a ") ||
		!strings.Contains(st, "  state:           ") || !strings.Contains(st, "keyring") {
		t.Fatalf("status -p b: want b alone with the reason for its state:\n%s", st)
	}
	// The daemon is still alive and answering.
	w.mustHelper("", "status")
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
