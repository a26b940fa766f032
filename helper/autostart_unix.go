//go:build unix

package helper

import (
	"os/exec"
	"syscall"
)

const daemonName = "dbx-credd"

// oNoFollow makes opening the autostart log fail on a symlink.
const oNoFollow = syscall.O_NOFOLLOW

// detach puts the daemon in a session of its own, so it outlives the
// helper and the terminal: no SIGHUP when the terminal closes and no
// SIGINT from a Ctrl-C meant for whatever ran dbx-cred.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }

// envKey is k: variable names are case-sensitive here.
func envKey(k string) string { return k }

// platformEnv adds nothing to the daemon's environment on Unix.
func platformEnv(string) bool { return false }
