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
)

// pidBudget bounds the scan of /proc/*/fd for the pid, which is only a hint
// for the audit log: on a machine with many open files it is given up.
const pidBudget = 100 * time.Millisecond

func lookup(server, client netip.AddrPort) (Peer, error) {
	server, client = unmap(server), unmap(client)
	table := "/proc/net/tcp"
	if client.Addr().Is6() {
		table = "/proc/net/tcp6"
	}
	f, err := os.Open(table)
	if err != nil {
		return Peer{}, fmt.Errorf("read the socket table: %w", err)
	}
	defer f.Close()
	// The client's own socket is the row whose local end is the client and
	// whose remote end is us; its uid is whoever called socket(2).
	uid, inode, err := findSocket(f, client, server)
	if err != nil {
		return Peer{}, fmt.Errorf("find the socket %s -> %s in %s: %w", client, server, table, err)
	}
	return Peer{UID: uid, PID: findPID(uid, inode, time.Now().Add(pidBudget))}, nil
}

// unmap turns ::ffff:a.b.c.d into a.b.c.d, as the kernel lists v4 sockets
// in /proc/net/tcp.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

var errNoSocket = errors.New("no such socket (the peer closed it, or lives in another network namespace)")

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
	return 0, 0, errNoSocket
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

// findPID looks for a process of uid holding socket inode, until deadline.
// Only uid's processes are read: they are the only candidates, and the
// only ones a non-root daemon may read anyway.
func findPID(uid int, inode uint64, deadline time.Time) int {
	if inode == 0 {
		return 0
	}
	want := fmt.Sprintf("socket:[%d]", inode)
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
		if syscall.Stat("/proc/"+name, &st) != nil || int(st.Uid) != uid {
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
