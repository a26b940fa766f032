package safesocket

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION from <sys/ucred.h>; x/sys lacks it.
const xucredVersion = 0

// checkPeer reads LOCAL_PEERCRED: the credentials the kernel recorded for
// the server, which it cannot forge.
func checkPeer(c *net.UnixConn, path string) error {
	var uid int
	err := withFD(c, func(fd int) error {
		xu, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading LOCAL_PEERCRED: %w", err)
		}
		// A different layout would put something else where Uid is read.
		if xu.Version != xucredVersion {
			return fmt.Errorf("reading LOCAL_PEERCRED: unknown xucred version %d", xu.Version)
		}
		uid = int(xu.Uid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking who serves %s: %w", path, err)
	}
	return peerMustBeUs(path, uid)
}
