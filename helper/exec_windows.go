//go:build windows

package helper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// runCommand runs the command as a child and waits: Windows has no execve.
// Ctrl-C and Ctrl-Break go to every process on the console, the child
// included, so dbx-cred only has to ignore them itself and outlive the child
// to pass on its exit code.
func runCommand(path string, argv, env []string) error {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	signal.Ignore(os.Interrupt)
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.ExitCode()}
	}
	if err != nil {
		return &exitError{code: 126, msg: fmt.Sprintf("exec: run %s: %v", argv[0], err)}
	}
	return nil
}
