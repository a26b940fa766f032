package safesocket

import (
	"os"
	"path/filepath"
)

func defaultPath(getenv func(string) string) string {
	if d := getenv("LOCALAPPDATA"); d != "" {
		return filepath.Join(d, "dbx-cred", "agent.sock")
	}
	// Without LOCALAPPDATA, the per-user temp directory is the next place
	// whose ACL keeps other users out.
	return filepath.Join(os.TempDir(), "dbx-cred", "agent.sock")
}

// target keeps a drive-letter path opaque ("unix:C:\Users\...") because
// gRPC dials URL.Opaque verbatim, whereas "unix:///C:/..." would be dialled
// as "/C:/...". A path containing '?' or '#' cannot be expressed this way.
func target(abs string) string { return "unix:" + abs }
