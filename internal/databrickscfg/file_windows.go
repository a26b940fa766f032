//go:build windows

package databrickscfg

import (
	"io/fs"
	"os"
)

// keepOwner does nothing: a new file in the user's profile directory gets
// the same owner and inherited ACL as the config it replaces.
func keepOwner(*os.File, fs.FileInfo) error { return nil }

// syncDir does nothing: Windows cannot open a directory for syncing, and
// NTFS journals the rename itself.
func syncDir(string) error { return nil }
