// Package sockpeer reads who is at the other end of a Unix socket, as the
// kernel recorded it when the connection was made, so the peer cannot
// forge it. Both sides use it: the helper to check that the daemon is its
// own user's (internal/safesocket), the daemon to check its callers
// (daemon/peercred). It links only the standard library and x/sys, so the
// helper stays thin.
package sockpeer

import (
	"errors"
	"fmt"
	"net"
)

// Cred is the peer's identity. PID is 0 where the system does not say.
type Cred struct {
	UID, PID int
}

// ErrUnsupported: the system records no peer credentials for Unix sockets
// (Windows' AF_UNIX); callers decide what protects them instead.
var ErrUnsupported = errors.New("this system reports no peer credentials for Unix sockets")

// withFD runs f on the connection's descriptor without taking it out of
// the runtime poller, as c.File() would.
func withFD(c *net.UnixConn, f func(fd int) error) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("getting socket descriptor: %w", err)
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return fmt.Errorf("getting socket descriptor: %w", err)
	}
	return ferr
}
