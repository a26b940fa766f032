//go:build unix

package helper

import (
	"fmt"
	"syscall"
)

// runCommand replaces dbx-cred with the command (execve), as aws-vault exec
// and env(1) do. The command keeps dbx-cred's pid, so signals from the
// terminal, a supervisor or "kill" reach it directly and its exit status
// (or death by signal) is what the parent sees; nothing needs forwarding
// and no helper process lingers holding the token in its memory. The cost:
// dbx-cred cannot act after the command ends, which it never needs to.
func runCommand(path string, argv, env []string) error {
	err := syscall.Exec(path, argv, env)
	// Only reached when execve failed.
	return &exitError{code: 126, msg: fmt.Sprintf("exec: run %s: %v", argv[0], err)}
}
