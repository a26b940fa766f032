//go:build linux || darwin

package safesocket

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
)

func defaultPath(getenv func(string) string) string {
	// The XDG spec says a relative XDG_RUNTIME_DIR is invalid and must be
	// ignored; using it would put the socket wherever the daemon was started.
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
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
