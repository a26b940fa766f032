//go:build !linux && !darwin

package helper

// parentName is unknown here: $SHELL, or the system's shell, decides.
func parentName() (string, bool) { return "", false }
