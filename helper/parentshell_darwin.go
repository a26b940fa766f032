package helper

import (
	"os"

	"golang.org/x/sys/unix"
)

// parentName is the parent process's command name, from the kernel's
// process table, and whether it could be read.
func parentName() (string, bool) {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", os.Getppid())
	if err != nil {
		return "", false
	}
	return unix.ByteSliceToString(kp.Proc.P_comm[:]), true
}
