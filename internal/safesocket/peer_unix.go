//go:build linux || darwin

package safesocket

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

func peerMustBeUs(path string, uid int) error {
	if us := ourUID(); uid != us {
		return &PeerError{Path: path, UID: uid, UserName: userName(uid), OurUID: us}
	}
	return nil
}

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

// userName finds uid in /etc/passwd, for error messages only: os/user
// would link cgo's getpwuid_r into the helper for the sake of a message.
// Users known only to NSS (LDAP, sssd) get no name; the uid is enough.
func userName(uid int) string {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		return ""
	}
	defer f.Close()
	want := strconv.Itoa(uid)
	s := bufio.NewScanner(f)
	for s.Scan() {
		// name:password:uid:gid:...
		fields := strings.SplitN(s.Text(), ":", 4)
		if len(fields) >= 3 && fields[2] == want {
			return fields[0]
		}
	}
	return ""
}
