//go:build linux

package helper

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// openPTY opens a pseudo-terminal pair: what the test writes to master,
// the helper reads from slave as from a terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// At a terminal, replacing a logged-in profile's credential asks first;
// anything but y leaves it as it was, before any secret is read.
func TestReplacingAProfileAsksAtATerminal(t *testing.T) {
	f := newFakeDaemon(t)
	f.profiles = []*pb.Profile{{Name: "prod", Host: "https://adb-1.azuredatabricks.net", UserName: "a@b.com"}}
	master, slave := openPTY(t)
	if _, err := master.Write([]byte("n\n")); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main([]string{"login", "-p", "prod"}, IO{Stdin: slave, Stdout: &out, Stderr: &errb, StdinFd: int(slave.Fd()),
		Getenv: func(k string) string {
			if k == "DBX_CRED_SOCKET" {
				return f.socket
			}
			return ""
		}})
	if code != exitFailure || !strings.Contains(errb.String(), `Profile "prod" is logged in already (a@b.com at https://adb-1.azuredatabricks.net). Replace its credential? [y/N]`) ||
		!strings.Contains(errb.String(), "nothing changed") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if len(f.loginRequests()) != 0 {
		t.Fatal("the login went ahead after no")
	}
}
