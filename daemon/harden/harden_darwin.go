//go:build darwin

package harden

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// apply disables core dumps. macOS's PT_DENY_ATTACH would also refuse
// debuggers, but x/sys exposes no ptrace wrapper for it without cgo; the
// Keychain remains the boundary for the long-lived secret.
func apply() (bool, error) {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return false, fmt.Errorf("disable core dumps: %w", err)
	}
	return true, nil
}
