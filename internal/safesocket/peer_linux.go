package safesocket

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// checkPeer reads SO_PEERCRED: the credentials the server had when it
// called listen(2), recorded by the kernel, so the server cannot forge
// them.
func checkPeer(c *net.UnixConn, path string) error {
	var uid int
	err := withFD(c, func(fd int) error {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return fmt.Errorf("reading SO_PEERCRED: %w", err)
		}
		uid = int(cred.Uid)
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking who serves %s: %w", path, err)
	}
	return peerMustBeUs(path, uid)
}
