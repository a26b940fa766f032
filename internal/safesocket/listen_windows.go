package safesocket

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// checkDirOwner accepts any directory for now: the default path is under
// %LOCALAPPDATA%, whose inherited ACL admits only the user, SYSTEM and
// administrators. A DBX_CRED_SOCKET elsewhere relies on its own ACL.
// TODO: compare the directory's owner SID and DACL with the user's token.
func checkDirOwner(string, fs.FileInfo) error { return nil }

// lockFile takes an exclusive LockFileEx lock on name for as long as the
// returned file stays open; busy reports that another process holds it.
// Windows releases the lock when its holder dies.
func lockFile(name string) (lock io.Closer, busy bool, err error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	const allBytes = ^uint32(0)
	err = windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, allBytes, allBytes, new(windows.Overlapped))
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("LockFileEx: %w", err)
	}
	return f, false, nil
}

func isRefused(err error) bool {
	return errors.Is(err, windows.WSAECONNREFUSED) || errors.Is(err, syscall.ECONNREFUSED)
}

// chmodSocket does nothing: Windows has no mode bits for a socket, and
// os.Chmod would only toggle the read-only attribute. The directory's ACL
// is what keeps other users out.
func chmodSocket(string) error { return nil }

// checkDirServedBy: Windows has no uid to check (see checkPeer).
func checkDirServedBy(string, int) error { return nil }
