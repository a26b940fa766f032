//go:build linux || darwin

package safesocket

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

// runUserBase is where systemd-logind makes each user's runtime directory,
// /run/user/<uid>, which it names in XDG_RUNTIME_DIR for login sessions.
const runUserBase = "/run/user"

func defaultPath(getenv func(string) string) string { return defaultPathIn(getenv, runUserBase) }

// defaultPathIn is defaultPath with the base of the per-user runtime
// directories as a parameter, for tests.
func defaultPathIn(getenv func(string) string, runUser string) string {
	// The XDG spec says a relative XDG_RUNTIME_DIR is invalid and must be
	// ignored; using it would put the socket wherever the daemon was started.
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "dbx-cred", "agent.sock")
	}
	// Cron, su and some SSH setups leave XDG_RUNTIME_DIR unset while the
	// user's login session has it: /run/user/<uid> is where that session's
	// daemon serves, so looking there too keeps one daemon per user instead
	// of a second one in the temp dir. Only a directory that passes the
	// socket-directory rules counts (one lstat on this path).
	if d := filepath.Join(runUser, strconv.Itoa(os.Getuid())); checkDir(d) == nil {
		return filepath.Join(d, "dbx-cred", "agent.sock")
	}
	// The uid in the name keeps users of a shared /tmp out of each other's
	// way; Listen still checks who owns the directory.
	return filepath.Join(os.TempDir(), "dbx-cred-"+strconv.Itoa(os.Getuid()), "agent.sock")
}

// target builds "unix:///abs/path" through net/url so that a path with '%',
// '?', '#' or a space survives gRPC's url.Parse: gRPC dials the decoded
// URL.Path. Ordinary paths come out as plain "unix://" + path.
func target(abs string) string {
	return (&url.URL{Scheme: "unix", Path: abs}).String()
}
