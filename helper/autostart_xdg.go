//go:build unix && !darwin

package helper

import (
	"os"
	"path/filepath"
	"strconv"
)

// stateDir is $XDG_STATE_HOME/dbx-cred, else ~/.local/state/dbx-cred: the
// XDG place for logs that should survive a reboot but are not config.
func stateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "dbx-cred")
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "dbx-cred")
	}
	// No home: the private per-uid directory the socket would use.
	return filepath.Join(os.TempDir(), "dbx-cred-"+strconv.Itoa(os.Getuid()))
}
