//go:build linux

package tcppeer

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
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
		// Some sandboxes (gVisor, strict seccomp profiles) offer no
		// sock_diag: the socket table is slower but tells the same.
		return lookupProc(local, remote)
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

// lookupProc reads /proc/net/tcp{,6} for the socket remote -> local: a line
// per socket of the machine, so only where sock_diag is missing.
func lookupProc(local, remote netip.AddrPort) (Peer, error) {
	table := "/proc/net/tcp"
	if remote.Addr().Is6() {
		table = "/proc/net/tcp6"
	}
	f, err := os.Open(table)
	if err != nil {
		return Peer{}, fmt.Errorf("no sock_diag, and the socket table cannot be read: %w", err)
	}
	defer f.Close()
	uid, inode, err := findSocket(f, remote, local)
	if err != nil {
		return Peer{}, err
	}
	return Peer{UID: uid, Inode: inode}, nil
}

// findSocket scans a /proc/net/tcp{,6} table for the row local -> remote.
func findSocket(r io.Reader, local, remote netip.AddrPort) (uid int, inode uint64, err error) {
	sc := bufio.NewScanner(r)
	sc.Scan() // header line
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		l, err1 := parseAddr(f[1])
		r, err2 := parseAddr(f[2])
		if err1 != nil || err2 != nil || l != local || r != remote {
			continue
		}
		u, err := strconv.Atoi(f[7])
		if err != nil {
			return 0, 0, fmt.Errorf("bad uid column %q", f[7])
		}
		ino, _ := strconv.ParseUint(f[9], 10, 64)
		return u, ino, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, ErrNoSocket
}

// parseAddr reads "0100007F:1F90": the address as the kernel's 32-bit words
// printed in host byte order, then the port in hex.
func parseAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	// Each word was printed as a number; turn it back into the bytes it
	// held in memory, which are in network order.
	out := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(out[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(out)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}
