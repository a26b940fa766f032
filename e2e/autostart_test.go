package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// daemonsOn lists the live dbx-credd processes serving socket: autostarted
// ones carry it in their argv. Zombies do not count; whoever inherited an
// orphaned daemon reaps it in its own time.
func daemonsOn(t *testing.T, socket string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(argv, "\x00")), "\x00")
		if filepath.Base(args[0]) != "dbx-credd" || !strings.Contains(string(argv), "\x00"+socket) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); err != nil || i < 0 || bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitForDaemons polls until exactly want daemons serve socket, or 5 s
// pass: daemons that lost the race need a moment to exit.
func waitForDaemons(t *testing.T, socket string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := daemonsOn(t, socket)
		if len(pids) == want || time.Now().After(deadline) {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// autostartWorld is a world where dbx-cred starts its own daemon, logging
// under the world's XDG_STATE_HOME; every daemon on its socket is killed
// at the end.
func autostartWorld(t *testing.T) *world {
	w := newWorld(t)
	w.env["DBX_CRED_NO_AUTOSTART"] = ""
	w.env["XDG_STATE_HOME"] = filepath.Join(w.root, "state")
	t.Cleanup(func() {
		for _, pid := range daemonsOn(t, w.socket()) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return w
}

func TestHelperStartsTheDaemonOnFirstUse(t *testing.T) {
	w := autostartWorld(t)
	w.login("prod") // no daemon yet: login starts one and goes through it
	pids := daemonsOn(t, w.socket())
	if len(pids) != 1 {
		t.Fatalf("after login: daemons %v, want one", pids)
	}
	if tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod")); !strings.HasPrefix(tok, "dapi") {
		t.Fatalf("token through the autostarted daemon: %q", tok)
	}

	// Its log: private, in a private directory, and it says it served.
	logPath := filepath.Join(w.root, "state", "dbx-cred", "dbx-credd.log")
	for path, want := range map[string]fs.FileMode{filepath.Dir(logPath): fs.ModeDir | 0o700, logPath: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want mode %v", path, fi, err, want)
		}
	}
	if b, _ := os.ReadFile(logPath); !bytes.Contains(b, []byte("dbx-credd serving")) || !bytes.Contains(b, []byte("token served")) {
		t.Errorf("the log lacks the start-up line or the hand-out:\n%s", b)
	}
	// The daemon writes that log itself (--log-file), so it can move it
	// aside as it grows (daemon/logfile) instead of growing without end.
	if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pids[0])); !bytes.Contains(cmdline, []byte("\x00--log-file\x00"+logPath+"\x00")) {
		t.Errorf("the autostarted daemon runs as %q, without --log-file %s", bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), logPath)
	}
	// It is detached: a session of its own, so closing the terminal that
	// ran dbx-cred does not hang it up.
	if sid, _ := unix.Getsid(pids[0]); sid != pids[0] {
		t.Errorf("daemon %d is in session %d, not its own", pids[0], sid)
	}
	w.assertNoSecretOnDisk(w.pat)
}

// Twenty helpers at a cold start: every one gets a token, and the socket's
// lock leaves exactly one daemon.
func TestConcurrentColdStartLeavesOneDaemon(t *testing.T) {
	w := autostartWorld(t)
	w.login("prod")
	// Back to a cold start: stop the daemon login started.
	for _, pid := range daemonsOn(t, w.socket()) {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	if pids := waitForDaemons(t, w.socket(), 0); len(pids) != 0 {
		t.Fatalf("daemons %v did not stop", pids)
	}
	if _, err := os.Lstat(w.socket()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket still there after the daemon stopped: %v", err)
	}

	const n = 20
	type result struct {
		out, errOut string
		err         error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.Command(built.helper, "token", "-p", "prod")
			cmd.Env = w.environ()
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			results[i] = result{out.String(), errb.String(), err}
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || !strings.HasPrefix(r.out, "dapi") {
			t.Errorf("helper %d: %v, stdout %q, stderr %q", i, r.err, r.out, r.errOut)
		}
	}
	pids := waitForDaemons(t, w.socket(), 1)
	if len(pids) != 1 {
		t.Fatalf("after %d concurrent cold starts: daemons %v, want exactly one", n, pids)
	}
	status := w.mustHelper("", "status", "--json")
	if !strings.Contains(status, fmt.Sprintf(`"pid": %d,`, pids[0])) {
		t.Errorf("the one daemon left (%d) is not the one serving:\n%s", pids[0], status)
	}
}

// A daemon that cannot start is reported with its own reason (from its
// log), under the usual "not running" exit code; status never autostarts.
func TestAutostartFailureIsExplained(t *testing.T) {
	w := autostartWorld(t)
	if _, _, code := w.helper("", "status"); code != 2 {
		t.Fatalf("status without a daemon: exit %d, want 2", code)
	}
	if pids := daemonsOn(t, w.socket()); len(pids) != 0 {
		t.Fatalf("status started daemons %v", pids)
	}
	dir := filepath.Dir(w.socket())
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A socket directory that fails the daemon's rules is refused by the
	// helper itself, and no daemon is started into it.
	_, errOut, code := w.helper("", "token", "-p", "prod")
	if code != 2 || !strings.Contains(errOut, dir) || !strings.Contains(errOut, "accessible by group or others") {
		t.Fatalf("open socket directory: exit %d, %q", code, errOut)
	}
	logPath := filepath.Join(w.root, "state", "dbx-cred", "dbx-credd.log")
	if _, err := os.Lstat(logPath); !errors.Is(err, fs.ErrNotExist) || strings.Contains(errOut, "starting it failed") {
		t.Fatalf("a daemon was started into the open directory (log: %v): %q", err, errOut)
	}

	// A daemon that cannot start is explained with its own last words.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.socket(), []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = w.helper("", "token", "-p", "prod")
	if code != 2 || !strings.Contains(errOut, "starting it failed") || !strings.Contains(errOut, "is not a socket") {
		t.Fatalf("daemon that cannot start: exit %d, %q", code, errOut)
	}
}

// A symlink planted at the autostart log's path is not followed: the
// helper would otherwise create or append to the file it points at.
func TestAutostartLogSymlinkIsRefused(t *testing.T) {
	w := autostartWorld(t)
	logDir := filepath.Join(w.root, "state", "dbx-cred")
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(w.root, "victim")
	if err := os.Symlink(victim, filepath.Join(logDir, "dbx-credd.log")); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := w.helper("", "token", "-p", "prod")
	if code != 2 || !strings.Contains(errOut, "is a symlink") || !strings.Contains(errOut, "remove it") {
		t.Errorf("symlinked log: exit %d, %q", code, errOut)
	}
	if _, err := os.Lstat(victim); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the helper created %s through the symlink (%v)", victim, err)
	}
	if pids := daemonsOn(t, w.socket()); len(pids) != 0 {
		t.Errorf("daemons %v started despite the refused log", pids)
	}

	// A log directory open to others is refused the same way.
	os.Remove(filepath.Join(logDir, "dbx-credd.log"))
	os.Chmod(logDir, 0o755)
	_, errOut, code = w.helper("", "token", "-p", "prod")
	if code != 2 || !strings.Contains(errOut, "the log directory "+logDir+" is accessible by group or others") {
		t.Errorf("open log directory: exit %d, %q", code, errOut)
	}
}

// The autostarted daemon outlives the command that started it, so it gets
// an allow-list of the helper's environment, not all of it: not GODEBUG,
// not a stray variable, not the test crash hook.
func TestAutostartedDaemonGetsAnAllowListedEnvironment(t *testing.T) {
	w := autostartWorld(t)
	foo := fmt.Sprintf("foo-%d", time.Now().UnixNano())
	w.env["GODEBUG"] = "madvdontneed=1"
	w.env["FOO"] = foo
	w.env["DBX_CRED_TEST_CRASH_AT"] = "after-mint"
	w.env["LC_ALL"] = "C.UTF-8"
	w.login("prod")
	pids := daemonsOn(t, w.socket())
	if len(pids) != 1 {
		t.Fatalf("after login: daemons %v, want one", pids)
	}
	if status := w.mustHelper("", "status", "--json"); !strings.Contains(status, fmt.Sprintf(`"pid": %d,`, pids[0])) {
		t.Fatalf("daemon %d is not the one serving:\n%s", pids[0], status)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pids[0]))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"GODEBUG", "FOO", "DBX_CRED_TEST_CRASH_AT"} {
		if v, ok := env[k]; ok {
			t.Errorf("the daemon inherited %s=%s", k, v)
		}
	}
	if strings.Contains(string(raw), foo) {
		t.Errorf("the daemon's environment holds %q", foo)
	}
	for _, k := range []string{"HOME", "PATH", "LANG", "LC_ALL", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "DBUS_SESSION_BUS_ADDRESS", "DBX_CRED_METADATA_LISTEN"} {
		if env[k] != w.env[k] {
			t.Errorf("the daemon has %s=%q, want %q", k, env[k], w.env[k])
		}
	}
}
