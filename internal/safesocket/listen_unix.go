//go:build linux || darwin

package safesocket

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// checkDirOwner applies ssh-agent's rule: the directory is ours and closed
// to group and others, so nobody else can reach or swap the socket.
func checkDirOwner(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("checking socket directory %s: no owner information", dir)
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		owner := fmt.Sprintf("uid %d", st.Uid)
		if name := userName(int(st.Uid)); name != "" {
			owner += " (" + name + ")"
		}
		return &DirError{Path: dir,
			Problem: fmt.Sprintf("is owned by %s, not by you (uid %d)", owner, uid),
			Fix:     "remove it"}
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return &DirError{Path: dir,
			Problem: fmt.Sprintf("is accessible by group or others (mode %#o)", perm),
			Fix:     fmt.Sprintf("run \"chmod 700 %s\"", dir)}
	}
	return nil
}

// lockFile takes an exclusive flock on name for as long as the returned
// file stays open; busy reports that another process holds it. The kernel
// drops the lock when its holder dies, so a crashed daemon leaves none.
func lockFile(name string) (lock io.Closer, busy bool, err error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("flock: %w", err)
	}
	return f, false, nil
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func chmodSocket(path string) error { return os.Chmod(path, 0o600) }
