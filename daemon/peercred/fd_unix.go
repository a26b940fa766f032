//go:build linux || darwin

package peercred

import (
	"fmt"
	"net"
)

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
