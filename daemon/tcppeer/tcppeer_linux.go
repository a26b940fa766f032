//go:build linux

package tcppeer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pidBudget bounds the scan of /proc/*/fd for the pid, which is only a hint
// for the audit log: on a machine with many open files it is given up.
const pidBudget = 100 * time.Millisecond

// netlink sock_diag (linux/inet_diag.h): one request naming the exact four
// addresses, answered with one inet_diag_msg carrying the socket's uid and
// inode. It costs one round trip into the kernel whatever the number of
// sockets on the machine, where reading /proc/net/tcp costs a line per
// socket: under a flood of connections that difference is the daemon's
// life (each refused connection must stay cheap).
const (
	inetDiagReqV2Len = 56 // family, protocol, ext, pad, states, inet_diag_sockid
	inetDiagMsgLen   = 72 // family .. inode
	allStates        = 0xffffffff
	nlmsgHdrLen      = unix.SizeofNlMsghdr
	recvBuf          = 1024
	diagTimeout      = time.Second
)

func lookup(local, remote netip.AddrPort) (Peer, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return Peer{}, fmt.Errorf("open a sock_diag netlink socket: %w", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only guards against a kernel
	// that never does, so that no caller waits for ever.
	tv := unix.NsecToTimeval(diagTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	// The socket we want is the remote end: its source is remote, its
	// destination local.
	req := request(remote, local)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Peer{}, fmt.Errorf("ask sock_diag for %s -> %s: %w", remote, local, err)
	}
	buf := make([]byte, recvBuf)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return Peer{}, fmt.Errorf("read sock_diag's answer for %s -> %s: %w", remote, local, err)
	}
	return parseAnswer(buf[:n])
}

// request builds the netlink message asking for the TCP socket src -> dst.
func request(src, dst netip.AddrPort) []byte {
	family := byte(unix.AF_INET)
	if src.Addr().Is6() {
		family = unix.AF_INET6
	}
	b := make([]byte, nlmsgHdrLen+inetDiagReqV2Len)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], 1) // sequence
	r := b[nlmsgHdrLen:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], allStates)
	id := r[8:]
	// Ports and addresses in network byte order, as the kernel keeps them.
	binary.BigEndian.PutUint16(id[0:], src.Port())
	binary.BigEndian.PutUint16(id[2:], dst.Port())
	a, d := src.Addr().As16(), dst.Addr().As16()
	if family == unix.AF_INET {
		copy(id[4:8], a[12:])
		copy(id[20:24], d[12:])
	} else {
		copy(id[4:20], a[:])
		copy(id[20:36], d[:])
	}
	// interface 0 (any); cookie INET_DIAG_NOCOOKIE: match by addresses.
	ne.PutUint32(id[40:], ^uint32(0))
	ne.PutUint32(id[44:], ^uint32(0))
	return b
}

// parseAnswer reads the one message sock_diag sends back: the socket, or
// an error (ENOENT when there is no such socket).
func parseAnswer(b []byte) (Peer, error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil || len(msgs) == 0 {
		return Peer{}, fmt.Errorf("sock_diag answered something unreadable (%d bytes)", len(b))
	}
	m := msgs[0]
	switch m.Header.Type {
	case unix.NLMSG_ERROR:
		if len(m.Data) < 4 {
			return Peer{}, errors.New("sock_diag answered a short error")
		}
		errno := syscall.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
		if errno == syscall.ENOENT {
			return Peer{}, ErrNoSocket
		}
		return Peer{}, fmt.Errorf("sock_diag: %w", errno)
	case unix.SOCK_DIAG_BY_FAMILY:
		if len(m.Data) < inetDiagMsgLen {
			return Peer{}, fmt.Errorf("sock_diag answered a short message (%d bytes)", len(m.Data))
		}
		uid := binary.NativeEndian.Uint32(m.Data[64:])
		inode := binary.NativeEndian.Uint32(m.Data[68:])
		return Peer{UID: int(uid), Inode: uint64(inode)}, nil
	}
	return Peer{}, fmt.Errorf("sock_diag answered message type %d", m.Header.Type)
}

// findPID looks for a process of peer.UID holding socket peer.Inode,
// within pidBudget. Only that uid's processes are read: they are the only
// candidates, and the only ones a non-root daemon may read anyway.
func findPID(peer Peer) int {
	if peer.Inode == 0 {
		return 0
	}
	deadline := time.Now().Add(pidBudget)
	want := fmt.Sprintf("socket:[%d]", peer.Inode)
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if time.Now().After(deadline) {
			return 0
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+name, &st) != nil || int(st.Uid) != peer.UID {
			continue
		}
		fdDir := "/proc/" + name + "/fd"
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(fdDir + "/" + fd.Name()); err == nil && target == want {
				return pid
			}
		}
	}
	return 0
}
