//go:build linux

package peercred

import (
	"fmt"
	"os"
)

// Exe returns the executable of pid, or "" when the kernel does not tell us
// (the process is gone, or belongs to another user and we are not root).
// It is a hint for humans reading the audit trail: the process could have
// exec'd since it connected, so it is never used to decide anything.
func Exe(pid int) string {
	if pid <= 0 {
		return ""
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return exe
}
