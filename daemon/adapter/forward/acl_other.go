//go:build !linux

package forward

import "github.com/dbx-cred/dbx-cred/internal/errkind"

// allowUID is Linux's (POSIX ACLs through xattrs); elsewhere a forward
// serves the daemon's own uid only.
func allowUID(_, _ string, _ int) error {
	return errkind.New(errkind.Unsupported, "--allow-uid works on Linux only: on this system a forward serves your own uid")
}
