// Package safesocket finds, and safely listens on, the Unix socket that
// dbx-credd serves on. It follows ssh-agent's model: the socket lives in a
// directory only its owner can enter, and the socket itself is 0600.
//
// The dbx-cred helper imports this package for Path, Target and Dial (which
// checks the directory and the server's uid before a byte is sent), so it
// must stay light: no gRPC, no keyring, no SDK, only cheap syscalls.
package safesocket

import "path/filepath"

// EnvSocket names the environment variable that overrides the socket path,
// e.g. to run a second daemon or to leave a shared directory.
const EnvSocket = "DBX_CRED_SOCKET"

// Path gives the socket path: $DBX_CRED_SOCKET if set; else
// $XDG_RUNTIME_DIR/dbx-cred/agent.sock; else, when /run/user/<uid> exists
// and passes the socket-directory rules (CheckDir),
// /run/user/<uid>/dbx-cred/agent.sock; else
// filepath.Join(os.TempDir(), "dbx-cred-<uid>", "agent.sock").
// On Windows: %LOCALAPPDATA%\dbx-cred\agent.sock.
//
// getenv is a parameter so that the helper, the daemon and tests can agree
// on the path without touching the real environment.
func Path(getenv func(string) string) string {
	if p := getenv(EnvSocket); p != "" {
		return p
	}
	return defaultPath(getenv)
}

// Target is the grpc.NewClient target for path: "unix://" + the absolute
// path (gRPC rejects "unix://host/path" and resolves relative paths against
// nothing useful).
func Target(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return target(path)
}
