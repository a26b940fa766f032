package peercred

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// unknownPeerAllowed is false: macOS always reports a Unix-socket peer, so
// not knowing it means something is wrong and the call is refused.
const unknownPeerAllowed = false

// xucredVersion is XUCRED_VERSION from <sys/ucred.h>; x/sys lacks it.
const xucredVersion = 0

// peerCreds reads the credentials the kernel recorded when the peer
// connected: LOCAL_PEERCRED has the uid but no pid, LOCAL_PEERPID the pid.
func peerCreds(c *net.UnixConn) (uid, pid int, err error) {
	err = withFD(c, func(fd int) error {
		xu, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading LOCAL_PEERCRED: %w", err)
		}
		// A different layout would put something else where Uid is read.
		if xu.Version != xucredVersion {
			return fmt.Errorf("reading LOCAL_PEERCRED: unknown xucred version %d", xu.Version)
		}
		p, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		if err != nil {
			return fmt.Errorf("reading LOCAL_PEERPID: %w", err)
		}
		uid, pid = int(xu.Uid), p
		return nil
	})
	return uid, pid, err
}
