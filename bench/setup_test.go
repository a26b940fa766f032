// Package bench holds the benchmarks whose figures the README quotes: the
// helper's start-up next to a hello-world's, and the daemon's GetToken
// throughput over 64 connections. Like e2e they drive the real binaries
// against a real Secret Service (a private dbus-daemon and gnome-keyring)
// and the workspace emulator. See README.md; run them with "make bench".
//
// Nothing starts unless a benchmark is selected: a plain "go test ./bench/"
// builds nothing and runs nothing.
package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	"github.com/dbx-cred/dbx-cred/internal/testkit/testworld"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

const (
	profile = "bench"
	modPath = "github.com/dbx-cred/dbx-cred"
)

var (
	buildOnce                      sync.Once
	buildErr                       error
	binDir                         string // removed by TestMain
	helperBin, daemonBin, helloBin string

	worldOnce sync.Once
	worldErr  error
	shared    *world // one per test binary, shared by every benchmark
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.close()
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// sharedWorld builds the binaries and starts the world on first use, or
// skips when the machine lacks what it needs.
func sharedWorld(b *testing.B) *world {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("the benchmarks need Linux (gnome-keyring on a private D-Bus)")
	}
	for _, n := range testworld.Tools {
		if _, err := exec.LookPath(n); err != nil {
			b.Skipf("%s is missing: install the Debian packages gnome-keyring and dbus (make test-deps)", n)
		}
	}
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	worldOnce.Do(func() { shared, worldErr = newWorld() })
	if worldErr != nil {
		b.Fatal(worldErr)
	}
	return shared
}

const helloSource = `package main

import "fmt"

func main() { fmt.Println("hello, world") }
`

// build compiles the two binaries and the hello-world the same way: the
// flags of "make build", without cgo.
func build() error {
	dir, err := os.MkdirTemp("", "dbx-cred-bench-bin-")
	if err != nil {
		return err
	}
	binDir = dir
	goBuild := func(srcDir string, args ...string) error {
		cmd := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags", "-s -w", "-o"}, args...)...)
		cmd.Dir = srcDir
		// GOWORK=off: the hello-world is its own module, whatever go.work says.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %v: %v\n%s", args, err, out)
		}
		return nil
	}
	if err := goBuild(".", dir+"/", modPath+"/cmd/dbx-cred", modPath+"/cmd/dbx-credd", modPath+"/internal/testkit/floorserver"); err != nil {
		return err
	}
	src := filepath.Join(dir, "hello-src")
	if err := os.Mkdir(src, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.26\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(helloSource), 0o600); err != nil {
		return err
	}
	helloBin = filepath.Join(dir, "hello-world")
	if err := goBuild(src, helloBin, "."); err != nil {
		return err
	}
	helperBin, daemonBin = filepath.Join(dir, "dbx-cred"), filepath.Join(dir, "dbx-credd")
	return nil
}

// world is a private universe: HOME, config and runtime dirs, a Secret
// Service, the workspace emulator and a running dbx-credd with the profile
// "bench" logged in.
type world struct {
	root   string
	env    []string
	socket string
	pat    string
	stops  []func() // undone in reverse by close
}

// newEmptyWorld is the world without any profile, serving emu: a
// private Secret Service and a running dbx-credd with no profiles.
func newEmptyWorld(emu *wsemu.Emulator) (w *world, url string, err error) {
	root, err := os.MkdirTemp("", "dbx-cred-bench-rot-") // 0700
	if err != nil {
		return nil, "", err
	}
	w = &world{root: root}
	w.stops = append(w.stops, func() { os.RemoveAll(root) })
	// Not w itself: "return nil, err" sets it to nil before this runs.
	undo := w
	defer func() {
		if err != nil {
			undo.close()
		}
	}()
	for _, d := range []string{"home", "cfg", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, "", err
		}
	}
	bus, err := w.startSecretService(filepath.Join(root, "ss"))
	if err != nil {
		return nil, "", err
	}
	srv := httptest.NewServer(emu)
	w.stops = append(w.stops, srv.Close)
	vars := map[string]string{
		"PATH":                     os.Getenv("PATH"),
		"HOME":                     filepath.Join(root, "home"),
		"XDG_CONFIG_HOME":          filepath.Join(root, "cfg"),
		"XDG_RUNTIME_DIR":          filepath.Join(root, "run"),
		"DBUS_SESSION_BUS_ADDRESS": bus,
		"LANG":                     "C.UTF-8",
	}
	for k, v := range vars {
		w.env = append(w.env, k+"="+v)
	}
	w.socket = safesocket.Path(func(k string) string { return vars[k] })
	if err := w.startDaemon(); err != nil {
		return nil, "", err
	}
	return w, srv.URL, nil
}

// newWorld is newEmptyWorld with the "bench" profile logged in.
func newWorld() (*world, error) {
	emu := wsemu.New()
	pat := emu.AddUser("bench@example.com")
	w, url, err := newEmptyWorld(emu)
	if err != nil {
		return nil, err
	}
	w.pat = pat
	// The PAT goes on stdin, never in argv.
	if _, err := w.helper(w.pat+"\n", "login", "-p", profile, "--host", url); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *world) close() {
	for i := len(w.stops) - 1; i >= 0; i-- {
		w.stops[i]()
	}
	w.stops = nil
}

// start starts a long-lived child and registers how to stop it.
func (w *world) start(cmd *exec.Cmd, stop func(*exec.Cmd, <-chan struct{})) (<-chan struct{}, error) {
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	w.stops = append(w.stops, func() { stop(cmd, exited) })
	return exited, nil
}

func kill(cmd *exec.Cmd, exited <-chan struct{}) { cmd.Process.Kill(); <-exited }

// startSecretService starts a private dbus-daemon and an unlocked
// gnome-keyring on it (internal/testkit/testworld, as e2e does) and returns the bus
// address once the keyring serves.
func (w *world) startSecretService(dir string) (string, error) {
	addr, stop, err := testworld.StartSecretService(dir)
	if err != nil {
		return "", err
	}
	w.stops = append(w.stops, stop)
	return addr, nil
}

// startDaemon runs dbx-credd and waits until "dbx-cred status" succeeds.
func (w *world) startDaemon() error {
	logPath := filepath.Join(w.root, "dbx-credd.log")
	lg, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lg.Close() // the child has its own copy
	cmd := exec.Command(daemonBin, "run", "--log-level", "warn", "--metadata-listen", "0")
	cmd.Env = w.env
	// BENCH_DAEMON_ENV=VAR=VALUE tries a runtime setting on the daemon
	// alone (GOGC=100, GODEBUG=gctrace=1), for comparing runs.
	if kv := os.Getenv("BENCH_DAEMON_ENV"); kv != "" {
		cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], kv)
	}
	cmd.Stdout, cmd.Stderr = lg, lg
	exited, err := w.start(cmd, func(cmd *exec.Cmd, exited <-chan struct{}) {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			kill(cmd, exited)
		}
	})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("dbx-credd exited at start: %s", log)
		default:
		}
		if _, err := w.helper("", "status"); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("dbx-credd did not serve within 10s")
		}
	}
}

// helper runs dbx-cred with stdin and returns its stdout, or an error that
// carries its stderr.
func (w *world) helper(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, helperBin, args...)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dbx-cred %s: %v: %s", args[0], err, errb.Bytes())
	}
	return out.String(), nil
}

// spawn is what the start-up benchmarks time: fork, exec, run to exit, with
// the world's environment and stdin, stdout and stderr on /dev/null.
func (w *world) spawn(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = w.env
	return cmd.Run()
}
