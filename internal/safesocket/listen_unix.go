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

// checkDirServedBy is checkDirOwner for DialServedBy: owned by uid, root
// or us, and writable by its owner alone.
func checkDirServedBy(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking socket directory %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir():
		return &DirError{Path: dir, Problem: "is not a directory", Fix: "give the socket's real directory"}
	case !ok:
		return fmt.Errorf("checking socket directory %s: no owner information", dir)
	case int(st.Uid) != uid && st.Uid != 0 && int(st.Uid) != os.Getuid():
		return &DirError{Path: dir, Problem: fmt.Sprintf("is owned by uid %d, not by uid %d, root or you", st.Uid, uid), Fix: "put the socket elsewhere"}
	case fi.Mode().Perm()&0o022 != 0:
		return &DirError{Path: dir, Problem: fmt.Sprintf("is writable by group or others (mode %#o)", fi.Mode().Perm()),
			Fix: "mount the socket in a directory only its owner can write, e.g. /run"}
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
