package safesocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// PeerError reports a server on the socket that runs as another user: it
// could only be there to collect what a client sends it.
type PeerError struct {
	Path     string // the socket
	UID      int    // the server's uid, from the kernel
	UserName string // its user name, "" when unknown
	OurUID   int
}

func (e *PeerError) Error() string {
	who := fmt.Sprintf("uid %d", e.UID)
	if e.UserName != "" {
		who += " (" + e.UserName + ")"
	}
	return fmt.Sprintf("the server on %s runs as %s, not as you (uid %d), so it is not your dbx-credd: "+
		"stop that process and remove %s, or set %s to a path in a private directory",
		e.Path, who, e.OurUID, e.Path, EnvSocket)
}

// CheckDir applies Listen's rules for the socket's directory to dir
// without creating anything: a real directory (not a symlink), owned by
// us and closed to group and others. A client calls it before it trusts
// a socket there, because whoever controls the directory controls which
// process answers on the socket. The error is a *DirError when the
// directory exists but breaks a rule.
func CheckDir(dir string) error { return checkDir(dir) }

// Dial connects to the daemon's socket at path, but only after the checks
// that make a connection trustworthy, in the order a client can afford
// them: the directory passes CheckDir (one lstat), then, once connected,
// the kernel says the server runs as our uid (one getsockopt, where the
// OS has it; see checkPeer). Nothing is sent. A directory or socket that
// does not exist yields an error matching fs.ErrNotExist, so a caller can
// tell "no daemon yet" from a *DirError or *PeerError, which mean another
// user may be listening.
func Dial(ctx context.Context, path string) (net.Conn, error) {
	return dialChecked(ctx, path, checkDir, checkPeer)
}

// dialChecked is Dial with its two checks given: of the directory before
// connecting, of the server once connected.
func dialChecked(ctx context.Context, path string, dir func(string) error, peer func(*net.UnixConn, string) error) (net.Conn, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if err := dir(filepath.Dir(path)); err != nil {
		var de *DirError
		if errors.As(err, &de) {
			return nil, de
		}
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok { // net.Dialer gives *net.UnixConn for "unix": a bug otherwise
		c.Close()
		return nil, fmt.Errorf("connecting to %s: not a Unix socket connection (%T)", path, c)
	}
	if err := peer(uc, path); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ourUID is os.Getuid, named for the messages.
func ourUID() int { return os.Getuid() }

// DialServedBy is Dial for a forwarding socket that another uid lends to
// this one (dbx-cred forward --allow-uid): the server must run as uid,
// and the socket's directory must be uid's, root's or ours and writable by
// no one else, so that nobody else could have put the socket there. A
// socket bind-mounted into a container sits in the container's directory,
// which is why root's is accepted.
func DialServedBy(ctx context.Context, path string, uid int) (net.Conn, error) {
	return dialChecked(ctx, path,
		func(dir string) error { return checkDirServedBy(dir, uid) },
		func(c *net.UnixConn, path string) error { return checkPeerIs(c, path, uid) })
}
