//go:build linux

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func apply() (bool, error) {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return false, fmt.Errorf("disable core dumps: %w", err)
	}
	// Not dumpable also makes /proc/<pid>/mem, environ and ptrace attach
	// unavailable to same-uid processes (only root may still look).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return false, fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil || v != 0 {
		return false, fmt.Errorf("process is still dumpable (%d, %v)", v, err)
	}
	return true, nil
}
