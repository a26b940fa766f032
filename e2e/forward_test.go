package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshHost is a real sshd (Debian's openssh-server) that the test starts as
// its own user on 127.0.0.1, with a throwaway host key and authorized key.
// The "remote machine" is a second HOME and runtime dir under the world's
// root, which sshd gives each session (SetEnv), with dbx-cred on its PATH.
type sshHost struct {
	dir, home, run string
	args           []string // ssh's options and destination for this host
	log            string
}

func startSSHD(t *testing.T, w *world) *sshHost {
	t.Helper()
	requireTools(t, "ssh", "ssh-keygen", "/usr/sbin/sshd")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h := &sshHost{dir: filepath.Join(w.root, "sshd"), home: filepath.Join(w.root, "remote-home"), run: filepath.Join(w.root, "remote-run")}
	for _, d := range []string{h.dir, h.home, h.run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	}
	for _, k := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(h.dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(h.dir, "client.pub"))
	os.WriteFile(filepath.Join(h.dir, "authorized_keys"), pub, 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %[2]s/host
PidFile %[2]s/sshd.pid
AuthorizedKeysFile %[2]s/authorized_keys
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
LogLevel VERBOSE
SetEnv HOME=%[3]s XDG_RUNTIME_DIR=%[4]s PATH=%[5]s:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
`, port, h.dir, h.home, h.run, built.dir)
	os.WriteFile(filepath.Join(h.dir, "sshd_config"), []byte(cfg), 0o600)
	h.log = filepath.Join(h.dir, "sshd.log")
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-f", filepath.Join(h.dir, "sshd_config"), "-E", h.log)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	h.args = []string{"-F", "/dev/null", "-p", fmt.Sprint(port), "-i", filepath.Join(h.dir, "client"),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes",
		me.Username + "@127.0.0.1"}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return h
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(h.log)
			t.Fatalf("sshd did not listen: %s", b)
		}
	}
}

// remoteScript runs each dbx-cred command on the remote machine and
// prints its stdout and exit status between markers.
func remoteScript(cmds ...string) string {
	var b strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&b, "echo '<<%d'; %s 2>&1; echo \">>%d rc=$?\"; ", i, c, i)
	}
	return b.String()
}

// remoteResult is the output and status of command i of remoteScript.
func remoteResult(t *testing.T, out string, i int) (string, int) {
	t.Helper()
	start := strings.Index(out, fmt.Sprintf("<<%d\n", i))
	end := strings.Index(out, fmt.Sprintf(">>%d rc=", i))
	if start < 0 || end < start {
		t.Fatalf("no result %d in:\n%s", i, out)
	}
	var rc int
	fmt.Sscanf(out[end+len(fmt.Sprintf(">>%d rc=", i)):], "%d", &rc)
	return out[start+len(fmt.Sprintf("<<%d\n", i)) : end], rc
}

// Through dbx-cred ssh: the remote gets tokens for the lent profile by
// token, auth token, env and git; the other profile and every command
// that would change the laptop are refused (exit 7) and change nothing;
// the laptop's audit names the forward; the forward ends with the session.
func TestSSHForwardLendsOnlyTokens(t *testing.T) {
	w := newWorld(t)
	h := startSSHD(t, w)
	w.startDaemon()
	w.login("prod")
	w.login("dev")
	laptopToken := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	gitHost := strings.TrimPrefix(w.srv.URL, "http://")
	deletesBefore := w.emu.Requests("POST", "/api/2.0/token/delete")

	script := remoteScript(
		"dbx-cred token -p prod",
		"dbx-cred auth token -p prod",
		"dbx-cred env -p prod --shell bash",
		fmt.Sprintf("printf 'protocol=http\\nhost=%s\\n\\n' | git -c credential.helper= -c 'credential.helper=!dbx-cred git' credential fill", gitHost),
		"dbx-cred token -p dev",
		"dbx-cred logout -p prod --yes",
		"dbx-cred rotate -p prod",
		"echo dapi-nope | dbx-cred login -p prod --host "+w.srv.URL,
		"dbx-cred lock",
		"dbx-cred daemon stop",
		"dbx-cred audit",
		"dbx-cred status",
		"dbx-cred list",
		"dbx-cred import --all --yes",
		"dbx-cred metadata-url -p prod",
		`dbx-cred exec -p prod -- sh -c 'test -n "$DATABRICKS_TOKEN" && echo has-token'`,
		"dbx-cred curl-config -p prod",
		"dbx-cred netrc -p prod",
		fmt.Sprintf("printf 'protocol=http\nhost=%s\nusername=x\npassword=whatever\n\n' | dbx-cred git erase", gitHost),
		"echo pass | dbx-cred unlock",
		"dbx-cred store migrate --to file",
		"dbx-cred forward -p prod",
		"dbx-cred daemon restart",
	)
	argv := append([]string{"ssh", "-p", "prod", "--label", "devbox", "--"}, h.args...)
	out, errOut, code := w.helper("", append(argv, script)...)
	if code != 0 {
		t.Fatalf("dbx-cred ssh: exit %d\nstdout:\n%s\nstderr:\n%s\nsshd log:\n%s", code, out, errOut, fileText(h.log))
	}
	if got, rc := remoteResult(t, out, 0); rc != 0 || strings.TrimSpace(got) != laptopToken {
		t.Errorf("remote token: rc %d, %q (laptop's %q)", rc, got, laptopToken)
	}
	if got, rc := remoteResult(t, out, 1); rc != 0 || !strings.Contains(got, `"access_token": "`+laptopToken+`"`) {
		t.Errorf("remote auth token: rc %d\n%s", rc, got)
	}
	if got, rc := remoteResult(t, out, 2); rc != 0 || !strings.Contains(got, "DATABRICKS_TOKEN") {
		t.Errorf("remote env: rc %d\n%s", rc, got)
	}
	if got, rc := remoteResult(t, out, 3); rc != 0 || !strings.Contains(got, "password="+laptopToken) {
		t.Errorf("remote git credential fill: rc %d\n%s", rc, got)
	}
	if got, rc := remoteResult(t, out, 4); rc != 7 || !strings.Contains(got, "not lent to this machine") || strings.Contains(got, laptopToken) {
		t.Errorf("a profile not lent: rc %d\n%s", rc, got)
	}
	for i, what := range []string{"logout", "rotate", "login", "lock", "daemon stop", "audit"} {
		got, rc := remoteResult(t, out, 5+i)
		if rc != 7 || !strings.Contains(got, "not lent through forward devbox") {
			t.Errorf("remote %s: rc %d, want 7 and the refusal\n%s", what, rc, got)
		}
	}
	if got, rc := remoteResult(t, out, 11); rc != 0 || !strings.Contains(got, "forwarded from devbox") || strings.Contains(got, w.root) || strings.Contains(got, "dev\n") {
		t.Errorf("remote status: rc %d\n%s", rc, got)
	}
	if got, rc := remoteResult(t, out, 12); rc != 0 || !strings.Contains(got, "prod") || strings.Contains(got, "\ndev ") {
		t.Errorf("remote list: rc %d\n%s", rc, got)
	}
	if _, rc := remoteResult(t, out, 13); rc == 0 {
		t.Errorf("remote import succeeded")
	}
	if got, rc := remoteResult(t, out, 14); rc != 7 {
		t.Errorf("remote metadata-url: rc %d\n%s", rc, got)
	}

	if got, rc := remoteResult(t, out, 15); rc != 0 || !strings.Contains(got, "has-token") {
		t.Errorf("remote exec: rc %d\n%s", rc, got)
	}
	for i, what := range []string{"curl-config", "netrc"} {
		if got, rc := remoteResult(t, out, 16+i); rc != 0 || !strings.Contains(got, laptopToken) {
			t.Errorf("remote %s: rc %d\n%s", what, rc, got)
		}
	}
	if got, rc := remoteResult(t, out, 18); rc != 0 {
		t.Errorf("remote git erase: rc %d (git expects a helper that stores nothing to succeed)\n%s", rc, got)
	}
	for i, what := range []string{"unlock", "store migrate", "forward", "daemon restart"} {
		if got, rc := remoteResult(t, out, 19+i); rc != 7 || !strings.Contains(got, "not lent through forward devbox") {
			t.Errorf("remote %s: rc %d, want 7 and the refusal\n%s", what, rc, got)
		}
	}

	// Nothing changed on the laptop.
	if n := w.emu.Requests("POST", "/api/2.0/token/delete"); n != deletesBefore {
		t.Errorf("the remote's refused calls revoked %d tokens", n-deletesBefore)
	}
	list := w.mustHelper("", "list")
	if !strings.Contains(list, "prod") || !strings.Contains(list, "dev") {
		t.Errorf("laptop's list after the session:\n%s", list)
	}
	if got := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod")); got != laptopToken {
		t.Error("the laptop's token changed")
	}
	// The audit names the forward; the session's end revoked it.
	var events []struct{ Profile, Channel, Via string }
	json.Unmarshal([]byte(w.mustHelper("", "audit", "-o", "json")), &events)
	seen := map[string]bool{}
	for _, e := range events {
		if e.Via == "devbox" {
			seen[e.Channel] = true
		}
	}
	for _, ch := range []string{"token", "cli", "env", "git"} {
		if !seen[ch] {
			t.Errorf("the laptop's audit has no %s hand-out via devbox: %+v", ch, events)
		}
	}
	if fl := w.mustHelper("", "forward", "--list"); !strings.Contains(fl, "No forwards") {
		t.Errorf("the forward outlived its session:\n%s", fl)
	}
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(laptopToken)
}

// By hand, as forward's output says: ssh -R into a private directory and
// DBX_CRED_SOCKET on the host. When the forward is revoked, the host's
// dbx-cred names the forward and the fix, and starts no daemon.
func TestHandWrittenSSHForward(t *testing.T) {
	w := newWorld(t)
	h := startSSHD(t, w)
	w.startDaemon()
	w.login("prod")
	out := w.mustHelper("", "forward", "-p", "prod", "--label", "hand")
	sock := strings.SplitN(out, "\n", 2)[0]
	if !strings.HasPrefix(sock, "/") || !strings.Contains(out, "ssh -o ExitOnForwardFailure=yes -R ") {
		t.Fatalf("forward's output:\n%s", out)
	}
	remoteDir := filepath.Join(h.run, "dbx-cred-fwd")
	os.MkdirAll(remoteDir, 0o700)
	remote := filepath.Join(remoteDir, "hand.sock")
	laptopToken := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))

	run := func(script string) string {
		args := append([]string{"-o", "ExitOnForwardFailure=yes", "-R", remote + ":" + sock}, h.args...)
		cmd := exec.Command("ssh", append(args, script)...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		cmd.Run()
		os.Remove(remote) // sshd leaves it behind
		return b.String()
	}
	got := run(remoteScript("DBX_CRED_SOCKET=" + remote + " dbx-cred token -p prod"))
	if tok, rc := remoteResult(t, got, 0); rc != 0 || strings.TrimSpace(tok) != laptopToken {
		t.Fatalf("by hand: rc %d\n%s", rc, got)
	}
	w.mustHelper("", "forward", "--revoke", "hand")
	if _, err := os.Stat(sock); err == nil {
		t.Error("the revoked forward's socket is still there")
	}
	// The remote end still listens (ssh forwards to nothing now): the
	// host's helper names the forward, exits 2, and starts nothing, even
	// with autostart on.
	got = run(remoteScript("DBX_CRED_SOCKET="+remote+" dbx-cred token -p prod", "ls "+filepath.Join(h.run, "dbx-cred")))
	msg, rc := remoteResult(t, got, 0)
	if rc != 2 || !strings.Contains(msg, "the forwarded socket "+remote+" does not answer") || !strings.Contains(msg, "dbx-cred ssh") {
		t.Errorf("after revoke: rc %d\n%s", rc, got)
	}
	if ls, rc := remoteResult(t, got, 1); rc == 0 {
		t.Errorf("the host's helper made a daemon directory: %s", ls)
	}
	w.assertNoSecretOnDisk(w.pat)
	if strings.Contains(fileText(h.log), laptopToken) {
		t.Error("the token is in sshd's log")
	}
}

// Revoking and the TTL cut a connection that is open; a stopped daemon
// leaves no forwarding socket behind.
func TestForwardRevokeTTLAndExit(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	mk := func(args ...string) string {
		return strings.SplitN(w.mustHelper("", append([]string{"forward", "-p", "prod"}, args...)...), "\n", 2)[0]
	}
	cutWithin := func(sock string, d time.Duration, do func()) {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// An HTTP/2 client past its preface: a connection the server
		// keeps, as a gRPC client's is.
		if _, err := c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)); err != nil {
			t.Fatal(err)
		}
		// Past the server's handshake bound, the connection still stands:
		// only do() may cut it.
		buf := make([]byte, 1024)
		for until := time.Now().Add(3 * time.Second); time.Now().Before(until); {
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					t.Fatalf("the server cut the connection before it was revoked: %v", err)
				}
			}
		}
		do()
		c.SetReadDeadline(time.Now().Add(d))
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("the connection to %s stayed open", sock)
				}
				break
			}
		}
		if _, err := os.Stat(sock); err == nil {
			t.Errorf("%s is still there", sock)
		}
	}
	a := mk("--label", "a")
	cutWithin(a, 5*time.Second, func() { w.mustHelper("", "forward", "--revoke", "a") })
	b := mk("--label", "b", "--ttl", "10s")
	cutWithin(b, 20*time.Second, func() {})
	c := mk("--label", "c")
	d := mk("--label", "d", "--allow-uid", "12345")
	w.stopDaemon()
	for _, s := range []string{c, d, filepath.Dir(d)} {
		if _, err := os.Stat(s); err == nil {
			t.Errorf("%s outlived the daemon", s)
		}
	}
}

// Another uid (setpriv --reuid, standing in for a container's root) is
// refused until --allow-uid names it, and then reaches that forward only:
// not the daemon's own socket, and not another forward.
func TestForwardAllowUID(t *testing.T) {
	requireTools(t, "setpriv")
	if os.Getuid() != 0 {
		t.Skip("setpriv --reuid needs root")
	}
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	plain := strings.SplitN(w.mustHelper("", "forward", "-p", "prod", "--label", "plain"), "\n", 2)[0]
	as := func(sock string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "setpriv", "--reuid", "12345", "--regid", "12345", "--clear-groups", built.helper, "token", "-p", "prod")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "DBX_CRED_NO_AUTOSTART=1", "DBX_CRED_SOCKET=" + sock, "DBX_CRED_SOCKET_UID=0"}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := as(plain); code == 0 {
		t.Fatalf("uid 12345 got a token through a forward that does not allow it:\n%s", out)
	}
	out := w.mustHelper("", "forward", "-p", "prod", "--label", "box", "--allow-uid", "12345")
	sock := strings.SplitN(out, "\n", 2)[0]
	laptopToken := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	if got, code := as(sock); code != 0 || strings.TrimSpace(got) != laptopToken {
		t.Fatalf("uid 12345 through its forward: exit %d\n%s", code, got)
	}
	if got, code := as(w.socket()); code == 0 {
		t.Errorf("uid 12345 reached the daemon's own socket:\n%s", got)
	}
	if fl := w.mustHelper("", "forward", "--list"); !strings.Contains(fl, "12345") {
		t.Errorf("--list does not show the allowed uid:\n%s", fl)
	}
	var events []struct {
		Via     string
		PeerUID int64 `json:"peer_uid"`
	}
	json.Unmarshal([]byte(w.mustHelper("", "audit", "-o", "json")), &events)
	found := false
	for _, e := range events {
		found = found || (e.Via == "box" && e.PeerUID == 12345)
	}
	if !found {
		t.Errorf("the audit does not show uid 12345 via box: %+v", events)
	}
}

// fileText is p's content, "" when it cannot be read (for messages).
func fileText(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
