//go:build !linux && !darwin

package harden

import "errors"

// apply has nothing to do where the OS writes no core dumps of user processes
// by default and offers no per-process switch through x/sys.
func apply() (bool, error) {
	return false, errors.New("process hardening is not implemented on this OS")
}
