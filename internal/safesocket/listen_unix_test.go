//go:build linux || darwin

package safesocket

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// envChildListen makes TestMain act as another process that listens on a
// socket and exits without closing it, leaving a stale socket file.
const envChildListen = "SAFESOCKET_TEST_CHILD_LISTEN"

// envChildListenFD makes TestMain call listen(2) on descriptor 3, say
// "ready" and hold it until stdin closes: the socket's peer credentials
// are then this process's, whoever bound it.
const envChildListenFD = "SAFESOCKET_TEST_CHILD_LISTEN_FD"

func TestMain(m *testing.M) {
	if os.Getenv(envChildListenFD) != "" {
		if err := syscall.Listen(3, 8); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	if p := os.Getenv(envChildListen); p != "" {
		if _, err := net.Listen("unix", p); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sockPath gives a socket path in a not yet existing directory.
func sockPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "d", "agent.sock")
}

func mustListen(t *testing.T, path string) net.Listener {
	t.Helper()
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen(%s): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// assertServes checks that l still accepts a connection made to path.
func assertServes(t *testing.T, l net.Listener, path string) {
	t.Helper()
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dialing %s: %v", path, err)
	}
	c.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("Accept: %v", err)
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestListenCreatesPrivateDirAndSocket(t *testing.T) {
	path := sockPath(t)
	l := mustListen(t, path)
	if m := mode(t, filepath.Dir(path)); m != fs.ModeDir|0o700 {
		t.Errorf("directory mode = %v, want drwx------", m)
	}
	if m := mode(t, path); m != fs.ModeSocket|0o600 {
		t.Errorf("socket mode = %v, want Srw-------", m)
	}
	assertServes(t, l, path)
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestListenRefusesOpenDir(t *testing.T) {
	path := sockPath(t)
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // Chmod: Mkdir is subject to umask
		t.Fatal(err)
	}
	_, err := Listen(path)
	var de *DirError
	if !errors.As(err, &de) || de.Path != dir {
		t.Fatalf("Listen = %v, want a *DirError for %s", err, dir)
	}
	want := fmt.Sprintf(`socket directory %s is accessible by group or others (mode 0755): run "chmod 700 %s", or set DBX_CRED_SOCKET to a path in a private directory`, dir, dir)
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
}

func TestListenRefusesDirOwnedByOther(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown a directory to another uid")
	}
	path := sockPath(t)
	dir := filepath.Dir(path)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path)
	var de *DirError
	if !errors.As(err, &de) {
		t.Fatalf("Listen = %v, want a *DirError", err)
	}
	owner := "uid 65534"
	if name := userName(65534); name != "" {
		owner += " (" + name + ")"
	}
	want := fmt.Sprintf("socket directory %s is owned by %s, not by you (uid 0): remove it, or set DBX_CRED_SOCKET", dir, owner)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error =\n%s\nwant prefix\n%s", err, want)
	}
}

func TestListenRefusesSymlinkDir(t *testing.T) {
	path := sockPath(t)
	if err := os.Symlink(t.TempDir(), filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path)
	var de *DirError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("Listen = %v, want a *DirError about a symlink", err)
	}
}

func TestSecondListenKeepsFirst(t *testing.T) {
	path := sockPath(t)
	first := mustListen(t, path)
	_, err := Listen(path)
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Listen = %v, want ErrAlreadyRunning", err)
	}
	if want := "another dbx-credd is already serving on " + path; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	assertServes(t, first, path)
}

func TestConcurrentListenOneWins(t *testing.T) {
	path := sockPath(t)
	const n = 20
	var wg sync.WaitGroup
	results := make(chan error, n)
	listeners := make(chan net.Listener, n)
	for range n {
		wg.Go(func() {
			l, err := Listen(path)
			if err == nil {
				listeners <- l
			}
			results <- err
		})
	}
	wg.Wait()
	close(results)
	close(listeners)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, ErrAlreadyRunning):
			t.Errorf("Listen: %v, want nil or ErrAlreadyRunning", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent Listens won, want exactly 1", wins, n)
	}
	l := <-listeners
	defer l.Close()
	assertServes(t, l, path)
}

func TestListenReplacesStaleSocket(t *testing.T) {
	t.Run("closed without unlink", func(t *testing.T) {
		path := sockPath(t)
		if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		old, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		old.(*net.UnixListener).SetUnlinkOnClose(false)
		old.Close()
		assertServes(t, mustListen(t, path), path)
	})
	t.Run("left by an exited process", func(t *testing.T) {
		path := sockPath(t)
		if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envChildListen+"="+path)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if m := mode(t, path); m.Type() != fs.ModeSocket {
			t.Fatalf("child left %v, want a socket", m)
		}
		assertServes(t, mustListen(t, path), path)
	})
}

func TestListenRefusesLiveSocketWithoutLock(t *testing.T) {
	path := sockPath(t)
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := Listen(path); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("Listen = %v, want ErrAlreadyRunning", err)
	}
	assertServes(t, other, path)
}

func TestListenRefusesRegularFile(t *testing.T) {
	path := sockPath(t)
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(path)
	if err == nil || errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("Listen = %v, want a not-a-socket error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("file now %q (err %v), want it untouched", b, err)
	}
	// The failed attempt must have released the lock.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustListen(t, path)
}

func TestCloseKeepsSocketThatIsNotOurs(t *testing.T) {
	path := sockPath(t)
	l := mustListen(t, path)
	// Someone replaced our socket; Close must not remove theirs.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	assertServes(t, other, path)
}

func TestListenRefusesLongPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("x", 120), "agent.sock")
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("Listen = %v, want a path-too-long error", err)
	}
}
