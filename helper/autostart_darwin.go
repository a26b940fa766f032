package helper

import (
	"os"
	"path/filepath"
	"strconv"
)

// stateDir is ~/Library/Logs/dbx-cred, where the launchd agent logs too, so
// there is one place to look whoever started the daemon.
func stateDir(getenv func(string) string) string {
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, "Library", "Logs", "dbx-cred")
	}
	// No home: the private per-uid directory the socket would use.
	return filepath.Join(os.TempDir(), "dbx-cred-"+strconv.Itoa(os.Getuid()))
}
