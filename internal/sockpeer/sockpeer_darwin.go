package sockpeer

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// xucredVersion is XUCRED_VERSION from <sys/ucred.h>; x/sys lacks it.
const xucredVersion = 0

// Read returns the peer of c, from LOCAL_PEERCRED, which has the uid but
// no pid, and LOCAL_PEERPID for the pid.
func Read(c *net.UnixConn) (Cred, error) {
	var cred Cred
	err := withFD(c, func(fd int) error {
		xu, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading LOCAL_PEERCRED: %w", err)
		}
		// A different layout would put something else where Uid is read.
		if xu.Version != xucredVersion {
			return fmt.Errorf("reading LOCAL_PEERCRED: unknown xucred version %d", xu.Version)
		}
		pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		if err != nil {
			return fmt.Errorf("reading LOCAL_PEERPID: %w", err)
		}
		cred = Cred{UID: int(xu.Uid), PID: pid}
		return nil
	})
	return cred, err
}
