package safesocket

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// maxPathLen is the longest path bind(2) accepts (sun_path less its NUL):
// 107 bytes on Linux and Windows, 103 on macOS, where $TMPDIR is long.
const maxPathLen = len(syscall.RawSockaddrUnix{}.Path) - 1

// Listen prepares the socket's directory and listens on path. The returned
// listener's Close removes the socket file and releases the lock.
//
// Listen refuses a directory that is not private to the user (see
// DirError), returns an error matching ErrAlreadyRunning when another
// daemon holds path+".lock" or answers on path, and replaces a stale socket
// left by a daemon that died. It never removes anything but a socket.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("socket path %s is %d bytes, longer than the %d bytes this OS allows: set %s to a shorter path",
			path, len(path), maxPathLen, EnvSocket)
	}
	dir := filepath.Dir(path)
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	// The lock, not a dial, decides between daemons starting at once: a
	// dial-then-listen check has a window in which both see no server.
	lock, busy, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("locking %s.lock: %w", path, err)
	}
	if busy {
		return nil, &alreadyRunningError{who: "another dbx-credd", path: path}
	}
	l, err := listenLocked(path, lock)
	if err != nil {
		return nil, errors.Join(err, lock.Close())
	}
	return l, nil
}

func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		// A symlink or a file in the way makes MkdirAll fail with a bare
		// "file exists"; the directory check explains it better.
		var de *DirError
		if derr := checkDir(dir); errors.As(derr, &de) {
			return de
		}
		return fmt.Errorf("creating socket directory %s: %w", dir, err)
	}
	// Checked even when we just created it: MkdirAll leaves existing
	// components as they are, and someone may have created it first.
	return checkDir(dir)
}

// checkDir refuses a directory that is not a real directory or that
// others could enter; ownership and mode are checked per OS.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking socket directory %s: %w", dir, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return &DirError{Path: dir, Problem: "is a symlink", Fix: "replace it with a directory"}
	case !fi.IsDir():
		return &DirError{Path: dir, Problem: fmt.Sprintf("is not a directory (%v)", fi.Mode()), Fix: "remove it"}
	}
	return checkDirOwner(dir, fi)
}

// listenLocked runs with the lock held, so whatever sits at path was left
// by a daemon that no longer holds it, or by something outside our lock.
func listenLocked(path string, lock io.Closer) (*listener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ul := ln.(*net.UnixListener)
	// Close removes the file itself, and only if it is still ours; Go's
	// unlink-on-close would remove whatever is at path by then.
	ul.SetUnlinkOnClose(false)
	created, err := os.Lstat(path)
	if err == nil {
		// The 0700 directory covers the moment before this chmod.
		err = chmodSocket(path)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("securing socket %s: %w", path, err), ul.Close(), os.Remove(path))
	}
	return &listener{UnixListener: ul, path: path, created: created, lock: lock}, nil
}

// removeStale clears path for a new socket, but only if it is a socket
// nobody answers on: a user's file is never deleted and a live server,
// even one that ignores our lock, is never robbed of its socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking existing %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket (%v); dbx-credd will not remove it: move it away, or set %s to another path",
			path, fi.Mode(), EnvSocket)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return &alreadyRunningError{who: "a process that does not hold " + path + ".lock", path: path}
	}
	// Only a refusal proves nobody listens; a timeout may be a busy server.
	if !isRefused(err) && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking whether %s is still served: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	return nil
}

// listener removes its socket and releases the lock on Close. Accept is
// the embedded *net.UnixListener's, so connections stay *net.UnixConn for
// peer-credential checks.
type listener struct {
	*net.UnixListener
	path    string
	created os.FileInfo
	lock    io.Closer

	once     sync.Once
	closeErr error
}

// Close is safe to call more than once (grpc.Server.Stop closes listeners
// too); later calls return the first call's result.
func (l *listener) Close() error {
	l.once.Do(func() {
		err := l.UnixListener.Close()
		// Removed before unlocking, so a successor that takes the lock never
		// finds our socket; compared first, so we never remove a successor's.
		if fi, lerr := os.Lstat(l.path); lerr == nil && os.SameFile(fi, l.created) {
			if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("removing socket %s: %w", l.path, rerr))
			}
		}
		// The lock file stays: deleting it would let a starter that opened
		// it just before the deletion lock the orphaned inode while another
		// creates and locks a fresh file, and both would serve.
		if cerr := l.lock.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing lock %s.lock: %w", l.path, cerr))
		}
		l.closeErr = err
	})
	return l.closeErr
}
