//go:build linux

package oskeyring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const backendName = "secret-service"

const (
	// No password on a command line anywhere here: it would land in shell
	// history and the process list. The headless stores need no bus.
	noBusFix = "without a desktop session (SSH, WSL, a container) choose a store that needs none: " +
		"DBX_CRED_STORE=file dbx-cred daemon restart, then dbx-cred unlock (or --store keyctl); " +
		"in a desktop session, run dbx-credd inside it"
	noProviderFix = "install and start a Secret Service provider (gnome-keyring or KeePassXC with Secret Service " +
		"enabled, e.g. apt-get install gnome-keyring, then log in again), or choose a store that needs none: " +
		"DBX_CRED_STORE=file dbx-cred daemon restart"
	lockedFix = "unlock your login keyring: log in to the desktop session, or unlock \"Login\" in Passwords and Keys (seahorse); " +
		"dbx-credd picks the unlocked keyring up without a restart"
	timeoutFix = "the Secret Service may be waiting for an unlock prompt nobody sees: unlock the login keyring, " +
		"or raise dbx-credd run --keyring-timeout (then dbx-cred daemon restart)"
	otherFix = "check that the Secret Service works: secret-tool search service dbx-cred; then dbx-cred daemon restart"
)

// preflight refuses to touch D-Bus when there is no session bus: godbus would
// otherwise try to autolaunch dbus-launch and may leave a stray dbus-daemon
// behind (platform.md).
func preflight(getenv func(string) string) *preflightError {
	if getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	candidates := []string{fmt.Sprintf("/run/user/%d/bus", os.Getuid())}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		candidates = append([]string{filepath.Join(d, "bus")}, candidates...)
	}
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
	}
	return &preflightError{
		reason: "there is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and no $XDG_RUNTIME_DIR/bus exists)",
		fix:    noBusFix,
		err:    errors.New("no session bus"),
	}
}
