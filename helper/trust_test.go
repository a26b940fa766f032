package helper

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spyListener is a real Unix socket server that records whether anybody
// connected and what they sent, and never answers: a stand-in for a
// process of another user waiting for a PAT.
type spyListener struct {
	l    net.Listener
	got  chan []byte // one entry per connection, its bytes
	dir  string
	sock string
}

func newSpy(t *testing.T, dir string) *spyListener {
	t.Helper()
	s := &spyListener{dir: dir, sock: filepath.Join(dir, "s"), got: make(chan []byte, 16)}
	l, err := net.Listen("unix", s.sock)
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var b bytes.Buffer
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					b.Write(buf[:n])
					if err != nil {
						break
					}
				}
				s.got <- b.Bytes()
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return s
}

// connections reports what connected before the listener closed.
func (s *spyListener) connected() bool {
	s.l.Close()
	select {
	case <-s.got:
		return true
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

func runAt(socket, stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(args, IO{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinFd: -1,
		Getenv: func(k string) string {
			switch k {
			case "DBX_CRED_SOCKET":
				return socket
			case "DBX_CRED_NO_AUTOSTART":
				return "1"
			}
			return ""
		},
	})
	return out.String(), errb.String(), code
}

func privateDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "dbxt") // t.TempDir() can be too long for bind(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

const testPAT = "dapi0123456789abcdef0123456789abcdef"

// The daemon's directory rules hold for the helper too: in a directory
// that others can enter or that is a symlink, whoever listens may not be
// our daemon, so login sends it nothing, not even a connection attempt.
func TestHelperRefusesUntrustedSocketDir(t *testing.T) {
	open := privateDir(t)
	os.Chmod(open, 0o755)
	target := privateDir(t)
	linked := filepath.Join(privateDir(t), "l")
	if err := os.Symlink(target, linked); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, listenIn, dialIn, want string
	}{
		{"open", open, open, "is accessible by group or others (mode 0755)"},
		{"symlink", target, linked, "is a symlink"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spy := newSpy(t, tt.listenIn)
			sock := filepath.Join(tt.dialIn, "s")
			_, errOut, code := runAt(sock, testPAT+"\n", "login", "-p", "prod", "--host", "https://adb-1.azuredatabricks.net")
			if code != exitNoDaemon {
				t.Errorf("exit %d, want %d", code, exitNoDaemon)
			}
			for _, want := range []string{tt.dialIn, tt.want, "nothing was sent", "DBX_CRED_SOCKET"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q does not say %q", errOut, want)
				}
			}
			if spy.connected() {
				t.Error("the helper connected to the server in the untrusted directory")
			}
		})
	}
}

func TestHelperRefusesSocketDirOfAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a directory to another uid")
	}
	dir := privateDir(t)
	spy := newSpy(t, dir)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runAt(spy.sock, testPAT+"\n", "login", "-p", "prod", "--host", "https://adb-1.azuredatabricks.net")
	if code != exitNoDaemon || !strings.Contains(errOut, fmt.Sprintf("socket directory %s is owned by uid 65534", dir)) ||
		!strings.Contains(errOut, "not by you (uid 0)") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if spy.connected() {
		t.Error("the helper connected to the server in another user's directory")
	}
}

// A server that accepts and never answers (a stopped daemon) costs the
// call's deadline (10 s for status), with a line on stderr after 2 s, and
// ends as "cannot be reached" (exit 2) with a message that names the
// socket and the process to end, never a hang.
func TestHelperGivesUpOnSilentServer(t *testing.T) {
	t.Parallel()
	spy := newSpy(t, privateDir(t))
	start := time.Now()
	_, errOut, code := runAt(spy.sock, "", "status")
	took := time.Since(start)
	if code != exitNoDaemon {
		t.Errorf("exit %d, want %d", code, exitNoDaemon)
	}
	pid := os.Getpid() // the spy server is this test process
	for _, want := range []string{spy.sock, fmt.Sprintf("waiting for dbx-credd (pid %d) to answer…\n", pid),
		"did not answer within 10s", fmt.Sprintf("kill %d", pid)} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
	if took > 13*time.Second {
		t.Errorf("took %s, want about the 10s deadline", took)
	}
}

// daemon restart against a stuck daemon does not call it "not running" and
// does not advise daemon restart again: it names the process to end.
func TestRestartOfAStuckDaemonNamesThePID(t *testing.T) {
	t.Parallel()
	spy := newSpy(t, privateDir(t))
	out, errOut, code := runAt(spy.sock, "", "daemon", "restart")
	pid := os.Getpid()
	if code != exitNoDaemon || strings.Contains(out, "nothing to stop") || !strings.Contains(errOut, fmt.Sprintf("kill %d", pid)) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
