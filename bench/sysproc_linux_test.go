package bench

import "syscall"

// childAttr makes a long-lived child (bus, keyring, daemon) die with the
// benchmark binary, so an interrupted or crashed run leaves no process.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
