package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The headless stores end to end: the real binaries, a real age file, the
// real kernel keyring, a real gnome-keyring for the OS store.

const passphrase = "e2e passphrase, not a secret elsewhere"

// headless makes the world one without a session bus at all, as over SSH
// or in a container: the daemon sees no DBUS_SESSION_BUS_ADDRESS and its
// XDG_RUNTIME_DIR holds no bus socket.
func headless(w *world) {
	w.env["DBUS_SESSION_BUS_ADDRESS"] = ""
	// scrypt at 2^10 keeps unlocks fast under -race; same format (test
	// builds only: daemon/testhooks_on.go).
	w.env["DBX_CRED_TEST_SCRYPT_WORK"] = "10"
}

func (w *world) storeFile() string {
	return filepath.Join(w.env["HOME"], ".local", "share", "dbx-cred", "secrets.age")
}

func (w *world) restart(args ...string) {
	w.t.Helper()
	w.stopDaemon()
	w.startDaemon(args...)
}

// expectExit runs the helper and checks its exit code and that stderr
// holds want; it returns stderr.
func (w *world) expectExit(code int, want, stdin string, args ...string) string {
	w.t.Helper()
	start := time.Now()
	_, errOut, got := w.helper(stdin, args...)
	if got != code || !strings.Contains(errOut, want) {
		w.t.Fatalf("dbx-cred %v: exit %d, stderr %q; want exit %d and %q", args, got, errOut, code, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		w.t.Fatalf("dbx-cred %v took %s: a locked store must fail at once", args, d)
	}
	return errOut
}

func TestFileStoreEndToEnd(t *testing.T) {
	w := newWorld(t)
	headless(w)
	w.startDaemon("--store", "file")

	// Locked from the start: fails at once, exit 5, and prompts nobody.
	w.expectExit(5, "locked: run dbx-cred unlock", w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL)
	if out := w.mustHelper("", "daemon", "status", "--json"); !strings.Contains(out, `"locked": true`) || !strings.Contains(out, `"exists": false`) {
		t.Fatalf("daemon status of a new file store: %s", out)
	}
	// The first unlock creates the file.
	if out := w.mustHelper(passphrase+"\n", "unlock"); !strings.Contains(out, "Created and unlocked") {
		t.Fatalf("first unlock: %s", out)
	}
	fi, err := os.Stat(w.storeFile())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the file store: %v, %v; want mode 0600", fi, err)
	}
	w.login("prod")
	if tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod")); tok == "" {
		t.Fatal("no token")
	}
	if out := w.mustHelper("", "status"); !strings.Contains(out, "file (") {
		t.Fatalf("status does not show the file store: %s", out)
	}

	// A restart: locked again, then unlock, then tokens.
	w.restart("--store", "file")
	w.expectExit(5, "locked: run dbx-cred unlock", "", "token", "-p", "prod")
	before, _ := os.ReadFile(w.storeFile())
	w.expectExit(5, "wrong passphrase", "not the passphrase\n", "unlock")
	if after, _ := os.ReadFile(w.storeFile()); !bytes.Equal(before, after) {
		t.Fatal("a wrong passphrase changed the file")
	}
	w.expectExit(5, "locked", "", "token", "-p", "prod")
	w.mustHelper(passphrase+"\n", "unlock")
	w.mustHelper("", "token", "-p", "prod")

	// Lock forgets: the loaded profile is unloaded too.
	if out := w.mustHelper("", "lock"); !strings.Contains(out, "1 loaded profile") {
		t.Fatalf("lock: %s", out)
	}
	w.expectExit(5, "locked: run dbx-cred unlock", "", "token", "-p", "prod")
	w.mustHelper(passphrase+"\n", "unlock")
	w.mustHelper("", "token", "-p", "prod")

	// A damaged file: named, never overwritten, the previous version kept.
	w.stopDaemon()
	good, _ := os.ReadFile(w.storeFile())
	if _, err := os.Stat(w.storeFile() + ".1"); err != nil {
		t.Fatalf("no previous version beside the file store: %v", err)
	}
	bad := good[:len(good)/2]
	os.WriteFile(w.storeFile(), bad, 0o600)
	w.startDaemon("--store", "file")
	msg := w.expectExit(5, "is damaged", passphrase+"\n", "unlock")
	if !strings.Contains(msg, w.storeFile()) || !strings.Contains(msg, w.storeFile()+".1") {
		t.Fatalf("the damage message names neither the file nor its backup: %s", msg)
	}
	if now, _ := os.ReadFile(w.storeFile()); !bytes.Equal(now, bad) {
		t.Fatal("the damaged file was changed")
	}
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(passphrase)
}

// TestNoStoreRefusesWithTheChoices: auto with no working OS keyring serves
// the socket, refuses logins with every store and its command, and never
// falls back; with no bus at all and with a bus but no provider.
func TestNoStoreRefusesWithTheChoices(t *testing.T) {
	for _, tc := range []struct{ name, why string }{
		{"no session bus", "no D-Bus session bus"},
		{"bus without provider", "no Secret Service provider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			headless(w)
			if tc.name == "bus without provider" {
				bare := filepath.Join(w.root, "bare")
				os.MkdirAll(bare, 0o700)
				w.env["DBUS_SESSION_BUS_ADDRESS"] = startBus(t, bare, false)
			}
			w.startDaemon()
			msg := w.expectExit(5, "no store is usable", w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL)
			for _, want := range []string{tc.why, "DBX_CRED_STORE=file dbx-cred daemon restart", "DBX_CRED_STORE=keyctl dbx-cred daemon restart", "  os "} {
				if !strings.Contains(msg, want) {
					t.Errorf("the diagnosis lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "PASSWORD |") || strings.Contains(msg, "echo -n") {
				t.Errorf("the diagnosis asks for a password on a command line:\n%s", msg)
			}
			if out := w.mustHelper("", "daemon", "status", "--json"); !strings.Contains(out, `"name": ""`) || !strings.Contains(out, `"reachable": false`) {
				t.Fatalf("daemon status: %s", out)
			}
			if _, err := os.Stat(w.storeFile()); err == nil {
				t.Fatal("a file store appeared: a silent fallback")
			}
			w.assertNoSecretOnDisk(w.pat)
		})
	}
}

func TestOSStoreWithGnomeKeyring(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	out := w.mustHelper("", "daemon", "status", "--json")
	if !strings.Contains(out, `"name": "os"`) || !strings.Contains(out, `"reachable": true`) {
		t.Fatalf("daemon status with gnome-keyring: %s", out)
	}
	w.login("prod")
	reg, _ := os.ReadFile(filepath.Join(w.env["XDG_CONFIG_HOME"], "dbx-cred", "profiles.json"))
	if !strings.Contains(string(reg), `"store": "os"`) {
		t.Fatalf("the registry does not record the store:\n%s", reg)
	}
	// Another store while profiles live in this one: refused, with the way out.
	w.stopDaemon()
	err := w.tryStartDaemon("--store", "file")
	if err == nil || !strings.Contains(err.Error(), "store migrate --to file") || !strings.Contains(err.Error(), "--store os") {
		t.Fatalf("start on another store: %v", err)
	}
}

// TestDaemonStopRestart: whatever serves the socket stops when asked over
// it, and the socket is free once the command returns.
func TestDaemonStopRestart(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	pid := w.daemon.Process.Pid
	out := w.mustHelper("", "daemon", "stop")
	if !strings.Contains(out, "pid "+strconv.Itoa(pid)) {
		t.Fatalf("daemon stop: %s", out)
	}
	select {
	case <-w.daemonExited:
	case <-time.After(5 * time.Second):
		t.Fatal("the daemon did not exit after daemon stop")
	}
	w.daemon = nil
	if _, err := os.Stat(w.socket()); err == nil {
		t.Fatal("the socket is still there")
	}
	w.mustHelper("", "daemon", "stop") // nothing to stop: exit 0
	// restart starts one through autostart.
	w.env["DBX_CRED_NO_AUTOSTART"] = ""
	out = w.mustHelper("", "daemon", "restart")
	if !strings.Contains(out, "dbx-credd restarted") {
		t.Fatalf("daemon restart: %s", out)
	}
	w.mustHelper("", "daemon", "stop")
}

func requireKeyctl(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/keys"); err != nil {
		// Visible in every run's output, not only with -v.
		println("NOTICE: TestKeyctlStore skipped: this kernel has no /proc/keys (no key retention service)")
		t.Skip("NOTICE: no /proc/keys: the kernel keyring store cannot be tested here")
	}
	requireTools(t, "keyctl")
}

// ringID finds a keyring by name in /proc/keys (every key the uid may
// view), as a decimal serial for keyctl(1); "" if there is none.
func ringID(name string) string {
	b, _ := os.ReadFile("/proc/keys")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 9 && f[7] == "keyring" && strings.TrimSuffix(f[8], ":") == name {
			n, err := strconv.ParseInt(f[0], 16, 64)
			if err == nil {
				return strconv.FormatInt(n, 10)
			}
		}
	}
	return ""
}

// keyctlCmd runs keyctl(1) as a possessor of dbx-cred's ring: in a new
// session keyring with the persistent keyring linked, as dbx-credd does.
func keyctlCmd(t *testing.T, args ...string) string {
	t.Helper()
	out, err := possessing(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("keyctl %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func possessing(args ...string) *exec.Cmd {
	return exec.Command("keyctl", append([]string{"session", "-", "sh", "-c", `keyctl get_persistent @s >/dev/null && exec keyctl "$@"`, "sh"}, args...)...)
}

// userKeyID finds a user key whose description starts with prefix in
// /proc/keys (which lists what the uid may view), as a decimal serial.
func userKeyID(prefix string) string {
	b, _ := os.ReadFile("/proc/keys")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 9 && f[7] == "user" && strings.HasPrefix(f[8], prefix) {
			if n, err := strconv.ParseInt(f[0], 16, 64); err == nil {
				return strconv.FormatInt(n, 10)
			}
		}
	}
	return ""
}

func TestKeyctlStore(t *testing.T) {
	requireKeyctl(t)
	w := newWorld(t)
	headless(w)
	b := make([]byte, 6)
	rand.Read(b)
	ring := "dbx-cred-e2e-" + hex.EncodeToString(b)
	w.env["DBX_CRED_TEST_KEYCTL_RING"] = ring
	t.Cleanup(func() {
		if id := ringID(ring); id != "" {
			possessing("invalidate", id).Run()
		}
	})
	w.startDaemon("--store", "keyctl")
	if out := w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL); !strings.Contains(out, "the token is in the kernel keyring (keyctl)") {
		t.Errorf("login into the kernel keyring says: %s", out)
	}
	w.mustHelper("", "token", "-p", "prod")
	ringID := ringID(ring)
	if ringID == "" {
		t.Fatalf("no keyring %s in /proc/keys", ring)
	}
	if list := keyctlCmd(t, "rdescribe", ringID); !strings.Contains(list, ring) {
		t.Fatalf("keyctl rdescribe %s: %s", ringID, list)
	}
	if keys := keyctlCmd(t, "list", ringID); !strings.Contains(keys, "dbx-cred:prod") {
		t.Fatalf("the ring holds no key of prod: %s", keys)
	}
	// Only a possessor reads the payload: a process of the same uid that
	// has not linked the persistent keyring sees the key, not the secret.
	keyID := userKeyID("dbx-cred:prod")
	if keyID == "" {
		t.Fatal("prod's key is not listed in /proc/keys (user view)")
	}
	if out, err := exec.Command("keyctl", "session", "-", "keyctl", "print", keyID).CombinedOutput(); err == nil || strings.Contains(string(out), w.pat) {
		t.Fatalf("keyctl print from a session that does not possess the ring: %v, %q; want permission denied", err, out)
	}
	if out := keyctlCmd(t, "print", keyID); !strings.Contains(out, w.pat) {
		t.Fatal("a possessor cannot read the key: the check above proves nothing")
	}
	// A daemon restart keeps the secrets.
	w.restart("--store", "keyctl")
	w.mustHelper("", "token", "-p", "prod")

	// A reboot clears the kernel keyring: the profile says so and keeps
	// its registry entry; a login restores it.
	w.stopDaemon()
	keyctlCmd(t, "invalidate", ringID)
	w.startDaemon("--store", "keyctl")
	w.expectExit(4, "the kernel keyring was cleared (reboot)", "", "token", "-p", "prod")
	if out := w.mustHelper("", "list"); !strings.Contains(out, "prod") {
		t.Fatalf("the profile lost its registry entry: %s", out)
	}
	w.login("prod")
	w.mustHelper("", "token", "-p", "prod")
	w.assertNoSecretOnDisk(w.pat)
}

// waitLog waits for the current daemon's log to contain s.
func (w *world) waitLog(s string) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	current := func() string { b, _ := os.ReadFile(w.logs[len(w.logs)-1]); return string(b) }
	for !strings.Contains(current(), s) {
		if time.Now().After(deadline) {
			w.t.Fatalf("the daemon never logged %q:\n%s", s, w.daemonLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill9During runs store migrate with the daemon paused at point, kills
// the daemon with SIGKILL there, and returns.
func (w *world) kill9During(point, to string) {
	w.t.Helper()
	w.env["DBX_CRED_TEST_CRASH_AT"] = point
	w.restart()
	delete(w.env, "DBX_CRED_TEST_CRASH_AT")
	done := make(chan int, 1)
	go func() {
		_, _, code := w.helper(passphrase+"\n", "store", "migrate", "--to", to)
		done <- code
	}()
	w.waitLog("test hook: paused for kill -9")
	w.daemon.Process.Signal(syscall.SIGKILL)
	<-w.daemonExited
	w.daemon = nil
	if code := <-done; code == 0 {
		w.t.Fatal("store migrate succeeded although its daemon was killed")
	}
}

// TestStoreMigrateKill9: both ways, with kill -9 in the middle, every
// secret stays in at least one store and the registry names one holding
// them all.
func TestStoreMigrateKill9(t *testing.T) {
	w := newWorld(t)
	w.env["DBX_CRED_TEST_SCRYPT_WORK"] = "10"
	w.startDaemon()
	w.login("a")
	w.login("b")
	inKeyring := func() int {
		n := 0
		for _, p := range []string{"a", "b"} {
			if _, ok := w.ss.lookup(p); ok {
				n++
			}
		}
		return n
	}

	// os -> file, killed after the copies, before the switch: the
	// keyring still holds both and the registry still names it.
	w.kill9During("migrate-after-copy", "file")
	if n := inKeyring(); n != 2 {
		t.Fatalf("after kill -9 before the switch the keyring holds %d of 2", n)
	}
	w.startDaemon()
	w.mustHelper("", "token", "-p", "a")
	w.mustHelper("", "token", "-p", "b")

	// Now all the way.
	out := w.mustHelper(passphrase+"\n", "store", "migrate", "--to", "file")
	if !strings.Contains(out, "2 profile(s) from the os store to the file store") {
		t.Fatalf("migrate: %s", out)
	}
	if n := inKeyring(); n != 0 {
		t.Fatalf("the keyring still holds %d secrets after the migration", n)
	}
	w.mustHelper("", "token", "-p", "a") // served on, no restart
	w.restart()                          // auto follows the registry: file, locked
	w.expectExit(5, "locked: run dbx-cred unlock", "", "token", "-p", "a")
	w.mustHelper(passphrase+"\n", "unlock")
	w.mustHelper("", "token", "-p", "b")

	// file -> os, killed after the switch, before the deletes: the
	// registry names the keyring, which holds both.
	w.env["DBX_CRED_TEST_CRASH_AT"] = "migrate-after-switch"
	w.restart()
	delete(w.env, "DBX_CRED_TEST_CRASH_AT")
	w.mustHelper(passphrase+"\n", "unlock")
	done := make(chan int, 1)
	go func() { _, _, code := w.helper("", "store", "migrate", "--to", "os"); done <- code }()
	w.waitLog("test hook: paused for kill -9")
	w.daemon.Process.Signal(syscall.SIGKILL)
	<-w.daemonExited
	w.daemon = nil
	<-done
	if n := inKeyring(); n != 2 {
		t.Fatalf("after kill -9 after the switch the keyring holds %d of 2", n)
	}
	w.startDaemon() // auto: the registry names os now
	w.mustHelper("", "token", "-p", "a")
	w.mustHelper("", "token", "-p", "b")
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(passphrase)
}
