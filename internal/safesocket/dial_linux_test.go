package safesocket

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A server of another user in a directory that passes every rule (ours,
// 0700) is still refused: the kernel's SO_PEERCRED names its uid. The
// socket is bound here and listened on by a child running as nobody, as
// if nobody had slipped a socket in; the peer credentials are the
// listener's.
func TestDialRefusesServerOfAnotherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a server as another uid")
	}
	path := filepath.Join(shortDir(t), "s")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	sock := os.NewFile(uintptr(fd), "socket")
	defer sock.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	// nobody must be able to run the test binary: copy it somewhere open.
	exe := filepath.Join(shortDir(t), "child.test")
	os.Chmod(filepath.Dir(exe), 0o755)
	if err := copyFile(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envChildListenFD+"=1")
	cmd.ExtraFiles = []*os.File{sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		t.Fatalf("child: %q", line)
	}

	c, err := Dial(dialCtx(t), path)
	if c != nil {
		c.Close()
	}
	var pe *PeerError
	if !errors.As(err, &pe) || pe.UID != 65534 {
		t.Fatalf("Dial = %v, want a *PeerError for uid 65534", err)
	}
	owner := "uid 65534"
	if name := userName(65534); name != "" {
		owner += " (" + name + ")"
	}
	for _, want := range []string{path, "runs as " + owner + ", not as you (uid 0)", "not your dbx-credd", "DBX_CRED_SOCKET"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
