package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// unknownPeerAllowed is false: Linux always reports a Unix-socket peer, so
// not knowing it means something is wrong and the call is refused.
const unknownPeerAllowed = false

// peerCreds reads the credentials the kernel recorded when the peer
// connected; the peer cannot forge them.
func peerCreds(c *net.UnixConn) (uid, pid int, err error) {
	err = withFD(c, func(fd int) error {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading SO_PEERCRED: %w", err)
		}
		uid, pid = int(cred.Uid), int(cred.Pid)
		return nil
	})
	return uid, pid, err
}
