// Package e2e runs the real dbx-cred and dbx-credd binaries against a real
// Secret Service (a private dbus-daemon with gnome-keyring per test) and the
// workspace emulator over real HTTP.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/testworld"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// bins holds the binaries built once for the whole package.
type bins struct{ dir, helper, daemon string }

func (b bins) ok() bool { return b.dir != "" }

var built bins // set once in TestMain, read-only afterwards

// testBuildTag compiles dbx-credd's test hooks in (daemon/testhooks_on.go).
const testBuildTag = "dbxcredtest"

func TestMain(m *testing.M) {
	if runtime.GOOS != "linux" {
		fmt.Println("e2e: skipped, the harness needs Linux (gnome-keyring, /proc)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "dbx-cred-e2e-bin-")
	if err != nil {
		panic(err)
	}
	// World-readable so the other-uid test can run the helper as nobody.
	os.Chmod(dir, 0o755)
	// With the test hooks (DBX_CRED_TEST_CRASH_AT and friends, see
	// daemon/testhooks_on.go): release builds have none.
	cmd := exec.Command("go", "build", "-tags", testBuildTag, "-o", dir+"/", "../cmd/dbx-cred", "../cmd/dbx-credd")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Println("e2e: building the binaries failed:", err)
		os.Exit(1)
	}
	built = bins{dir: dir, helper: filepath.Join(dir, "dbx-cred"), daemon: filepath.Join(dir, "dbx-credd")}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" || os.Getenv("DBX_CRED_IN_SECRET_SERVICE") != "" {
				t.Fatalf("%s is missing: make test installs it", n)
			}
			t.Skipf("%s is missing (make test installs it)", n)
		}
	}
}

// secretService is a private session bus, optionally with gnome-keyring.
type secretService struct {
	address string
}

// startBus starts a dbus-daemon; withServiceDirs lets it activate services
// (gnome-keyring's prompter) the way a desktop session does.
func startBus(t *testing.T, dir string, withServiceDirs bool) string {
	t.Helper()
	requireTools(t, "dbus-daemon")
	addr, stop, err := testworld.StartBus(dir, withServiceDirs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// newSecretService starts a bus and an unlocked gnome-keyring on it, private
// to one test, so tests can lock it or fill it without affecting others.
func newSecretService(t *testing.T, root string) secretService {
	t.Helper()
	requireTools(t, testworld.Tools...)
	addr, stop, err := testworld.StartSecretService(filepath.Join(root, "ss"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return secretService{address: addr}
}

func (s secretService) gdbus(args ...string) (string, error) {
	return testworld.Gdbus(s.address, args...)
}

// lock locks the login collection; with no display nobody can unlock it.
func (s secretService) lock(t *testing.T) {
	t.Helper()
	if out, err := s.gdbus("--dest", "org.freedesktop.secrets", "--object-path", "/org/freedesktop/secrets",
		"--method", "org.freedesktop.Secret.Service.Lock", "['/org/freedesktop/secrets/collection/login']"); err != nil {
		t.Fatalf("lock the login collection: %v: %s", err, out)
	}
}

// lookup reads a profile's secret the way any other Secret Service client
// would. The item's user name is the profile name, followed since the
// hardening work by \x1f and a generation (a new one per login and rotate).
func (s secretService) lookup(profile string) (string, bool) {
	items := s.items("dbx-cred")
	for user, secret := range items {
		if user == profile || strings.HasPrefix(user, profile+"\x1f") {
			return secret, true
		}
	}
	return "", false
}

// items lists every item of service as user name -> secret.
func (s secretService) items(service string) map[string]string {
	cmd := exec.Command("secret-tool", "search", "--all", "service", service)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+s.address)
	out, _ := cmd.CombinedOutput()
	items := map[string]string{}
	var user, secret string
	flush := func() {
		if user != "" {
			items[user] = secret
		}
		user, secret = "", ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			flush()
		case strings.HasPrefix(line, "attribute.username = "):
			user = strings.TrimPrefix(line, "attribute.username = ")
		case strings.HasPrefix(line, "secret = "):
			secret = strings.TrimPrefix(line, "secret = ")
		}
	}
	flush()
	return items
}

// world is one test's private universe: HOME, config, runtime dir, a Secret
// Service, the emulator and (when started) a daemon.
type world struct {
	t            *testing.T
	root         string
	env          map[string]string
	ss           secretService
	emu          *wsemu.Emulator
	srv          *httptest.Server
	user         string
	pat          string
	daemon       *exec.Cmd
	daemonExited chan error
	logs         []string
	// daemonArgs come before every startDaemon's own: any free port for
	// the metadata service (chosen once, then remembered in this world's
	// config), so tests never fight over the machine-wide default. Tests
	// of the automatic choice clear it.
	daemonArgs []string
}

// newWorld builds the world; opts configure its workspace emulator.
func newWorld(t *testing.T, opts ...wsemu.Option) *world {
	t.Helper()
	if !built.ok() {
		t.Fatal("binaries not built")
	}
	root := t.TempDir()
	w := &world{t: t, root: root}
	for _, d := range []string{"home", "cfg", "run", "logs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	w.ss = newSecretService(t, root)
	w.env = map[string]string{
		"PATH":                     os.Getenv("PATH"),
		"HOME":                     filepath.Join(root, "home"),
		"XDG_CONFIG_HOME":          filepath.Join(root, "cfg"),
		"XDG_RUNTIME_DIR":          filepath.Join(root, "run"),
		"DBUS_SESSION_BUS_ADDRESS": w.ss.address,
		"LANG":                     "C.UTF-8",
		// Tests start their daemon themselves and expect exit 2 without
		// one; autostart_test.go turns this off to test autostart.
		"DBX_CRED_NO_AUTOSTART": "1",
		// A daemon started without --metadata-listen (autostarted, or a
		// unit's ExecStart) must not fight over the default port.
		"DBX_CRED_METADATA_LISTEN": "127.0.0.1:0",
		// And a daemon that makes the automatic choice tries a free port
		// first, not 127.0.0.1:8471 (test builds only: daemon/testhooks_on.go).
		metadataDefaultEnv: "127.0.0.1:0",
	}
	w.daemonArgs = []string{"--metadata-listen", "127.0.0.1:0"}
	w.emu = wsemu.New(opts...)
	w.srv = httptest.NewServer(w.emu)
	t.Cleanup(w.srv.Close)
	w.user = "alice@example.com"
	w.pat = w.emu.AddUser(w.user)
	t.Cleanup(func() { w.stopDaemon() })
	return w
}

func (w *world) environ() []string {
	out := make([]string, 0, len(w.env))
	for k, v := range w.env {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func (w *world) socket() string {
	return filepath.Join(w.env["XDG_RUNTIME_DIR"], "dbx-cred", "agent.sock")
}

// startDaemon runs dbx-credd and waits until it serves.
func (w *world) startDaemon(args ...string) {
	w.t.Helper()
	if err := w.tryStartDaemon(args...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) tryStartDaemon(args ...string) error {
	logPath := filepath.Join(w.root, "logs", fmt.Sprintf("daemon-%d.log", len(w.logs)))
	w.logs = append(w.logs, logPath)
	lg, err := os.Create(logPath)
	if err != nil {
		return err
	}
	// args may override daemonArgs: the flag package keeps the last value.
	argv := append(append([]string{"run", "--log-level", "debug"}, w.daemonArgs...), args...)
	cmd := exec.Command(built.daemon, argv...)
	cmd.Env = w.environ()
	cmd.Stdout, cmd.Stderr = lg, lg
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lg.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("dbx-credd exited at start (%v): %s", err, b)
		default:
		}
		// Serving means this process answers, not some earlier daemon.
		if out, _, code := w.helper("", "status", "--json"); code == 0 && strings.Contains(out, fmt.Sprintf(`"pid": %d,`, cmd.Process.Pid)) {
			w.daemon = cmd
			w.daemonExited = exited
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return errors.New("dbx-credd did not serve within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopDaemon sends SIGTERM and waits for a clean exit.
func (w *world) stopDaemon() {
	if w.daemon == nil {
		return
	}
	w.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.daemonExited:
	case <-time.After(10 * time.Second):
		w.daemon.Process.Kill()
		<-w.daemonExited
		w.t.Error("dbx-credd did not stop within 10s of SIGTERM")
	}
	w.daemon = nil
}

// helper runs dbx-cred with stdin and returns stdout, stderr and the exit code.
func (w *world) helper(stdin string, args ...string) (string, string, int) {
	return w.helperAs(nil, stdin, args...)
}

func (w *world) helperAs(prefix []string, stdin string, args ...string) (string, string, int) {
	w.t.Helper()
	for _, a := range args {
		if strings.Contains(a, w.pat) {
			w.t.Fatalf("test bug: the PAT was about to be passed in argv")
		}
	}
	argv := append(append([]string{}, prefix...), built.helper)
	argv = append(argv, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = w.environ()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run dbx-cred %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustHelper runs dbx-cred and fails the test unless it exits 0.
func (w *world) mustHelper(stdin string, args ...string) string {
	w.t.Helper()
	out, errOut, code := w.helper(stdin, args...)
	if code != 0 {
		w.t.Fatalf("dbx-cred %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// login logs profile in with the world's PAT.
func (w *world) login(profile string) {
	w.t.Helper()
	w.mustHelper(w.pat+"\n", "login", "-p", profile, "--host", w.srv.URL)
}

// assertNoSecretOnDisk fails if secret appears in any file under the world's
// root (HOME, config, runtime dir, logs) or in the daemon's argv.
func (w *world) assertNoSecretOnDisk(secret string) {
	w.t.Helper()
	scanned := 0
	filepath.WalkDir(w.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, filepath.Join(w.root, "ss")) {
			// ss/ is the Secret Service's own storage: the keyring, which
			// encrypts what it holds and is where the secret belongs.
			if d != nil && d.IsDir() && path == filepath.Join(w.root, "ss") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSocket != 0 {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		scanned++
		if bytes.Contains(b, []byte(secret)) {
			w.t.Errorf("the secret is in %s", path)
		}
		return nil
	})
	if scanned == 0 {
		w.t.Error("scanned no files: the scan itself is broken")
	}
}

func (w *world) daemonLog() string {
	var b strings.Builder
	for _, p := range w.logs {
		data, _ := os.ReadFile(p)
		b.Write(data)
	}
	return b.String()
}
