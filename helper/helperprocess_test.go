package helper

import (
	"os"
	"os/exec"
	"testing"
)

// TestHelperProcess is not a test: it lets other tests run this test binary
// as dbx-cred itself (for exec, which replaces the process, and for shells
// that run dbx-cred). It does nothing unless DBX_CRED_HELPER_PROCESS is set.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("DBX_CRED_HELPER_PROCESS") != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(Main(args, IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StdinFd: int(os.Stdin.Fd())}))
}

// helperCommand is an *exec.Cmd that runs dbx-cred args against f.
func (f *fakeDaemon) helperCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "DBX_CRED_HELPER_PROCESS=1", "DBX_CRED_SOCKET="+f.socket)
	return cmd
}

// helperShellPrefix is what a shell runs to call dbx-cred as this binary.
func helperShellPrefix() []string {
	return []string{os.Args[0], "-test.run=^TestHelperProcess$", "--"}
}
