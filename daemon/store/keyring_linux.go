//go:build linux

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const backendName = "secret-service"

const (
	noBusFix = "run dbx-credd inside your desktop or login session, or start one for it: " +
		"dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; dbx-credd run'"
	noProviderFix = "install and start a Secret Service provider (gnome-keyring or KeePassXC with Secret Service " +
		"enabled), e.g. apt-get install gnome-keyring, then log in again"
	lockedFix = "unlock your login keyring (log in to the desktop, or " +
		"echo -n PASSWORD | gnome-keyring-daemon --replace --unlock --components=secrets), then retry"
	timeoutFix = "the Secret Service may be waiting for an unlock prompt nobody sees: unlock the login keyring, " +
		"or raise dbx-credd run --keyring-timeout"
	otherFix = "check that the Secret Service works: secret-tool search service dbx-cred"
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
