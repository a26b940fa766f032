//go:build unix

package helper

import (
	"os/exec"
	"syscall"
)

const daemonName = "dbx-credd"

// detach puts the daemon in a session of its own, so it outlives the
// helper and the terminal: no SIGHUP when the terminal closes and no
// SIGINT from a Ctrl-C meant for whatever ran dbx-cred.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
