package testworld

import "syscall"

// childAttr makes a child die with the test or benchmark binary, so an
// interrupted run leaves no bus or keyring behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
