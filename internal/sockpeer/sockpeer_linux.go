package sockpeer

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Read returns the peer of c, from SO_PEERCRED: uid and pid as of
// connect(2) (or listen(2), for the server seen from a client).
func Read(c *net.UnixConn) (Cred, error) {
	var cred Cred
	err := withFD(c, func(fd int) error {
		uc, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading SO_PEERCRED: %w", err)
		}
		cred = Cred{UID: int(uc.Uid), PID: int(uc.Pid)}
		return nil
	})
	return cred, err
}
