//go:build linux || darwin

package safesocket

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/sockpeer"
)

// checkPeer reads the server's uid as the kernel recorded it when the
// server called listen(2) (SO_PEERCRED, LOCAL_PEERCRED), which the server
// cannot forge.
func checkPeer(c *net.UnixConn, path string) error {
	cred, err := sockpeer.Read(c)
	if err != nil {
		return fmt.Errorf("checking who serves %s: %w", path, err)
	}
	return peerMustBeUs(path, cred.UID)
}

// checkPeerIs is checkPeer for a server that must run as want.
func checkPeerIs(c *net.UnixConn, path string, want int) error {
	cred, err := sockpeer.Read(c)
	if err != nil {
		return fmt.Errorf("checking who serves %s: %w", path, err)
	}
	if cred.UID != want {
		return &PeerError{Path: path, UID: cred.UID, UserName: userName(cred.UID), OurUID: want}
	}
	return nil
}

func peerMustBeUs(path string, uid int) error {
	if us := ourUID(); uid != us {
		return &PeerError{Path: path, UID: uid, UserName: userName(uid), OurUID: us}
	}
	return nil
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

// PeerPID is the pid of the server on c as the kernel recorded it, 0 when
// unknown: for messages about a daemon that does not answer ("kill PID").
func PeerPID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0
	}
	cred, err := sockpeer.Read(uc)
	if err != nil {
		return 0
	}
	return cred.PID
}
