//go:build !linux

package oskeyring

import "runtime"

const backendName = runtime.GOOS + "-keyring"

const (
	noBusFix      = "run dbx-credd in your login session"
	noProviderFix = "run dbx-credd in your login session"
	lockedFix     = "unlock your keychain (macOS: security unlock-keychain), then retry"
	timeoutFix    = "the keychain may be waiting for a prompt nobody sees: unlock it, or raise dbx-credd run --keyring-timeout"
	otherFix      = "check that your user's keychain or Credential Manager works"
)

// preflight has nothing to check where the keyring needs no session bus.
func preflight(func(string) string) *preflightError { return nil }
