// Package tcppeer asks the kernel which user owns the other end of a TCP
// connection on this machine, so a loopback server can refuse other users
// the way the Unix socket's SO_PEERCRED check does, and a client can tell
// who listens on a loopback port before it sends a secret there. TCP
// carries no peer credentials; on Linux the kernel's socket diagnostics
// (netlink sock_diag) name the uid that opened each socket, looked up by
// the connection's four addresses. Elsewhere there is no such interface
// and Lookup returns ErrUnsupported.
package tcppeer

import (
	"errors"
	"net/netip"
)

// ErrUnsupported means this OS offers no way to learn a TCP peer's uid.
var ErrUnsupported = errors.New("this OS does not tell the uid of a TCP peer")

// ErrNoSocket means the kernel knows no socket with those addresses: the
// peer closed it already, or it lives in another network namespace.
var ErrNoSocket = errors.New("no such socket (the peer closed it, or lives in another network namespace)")

// Peer is the owner of a local TCP socket.
type Peer struct {
	UID int
	// Inode identifies the socket, for FindPID; 0 when unknown.
	Inode uint64
}

// Lookup finds the owner of the socket at the far end of a connection
// between two sockets of this machine: local is this process's end (its
// local address), remote the other (its remote address). The same call
// serves a server (whose client is remote) and a client (whose server,
// the accepted socket and so the listener's owner, is remote).
func Lookup(local, remote netip.AddrPort) (Peer, error) {
	return lookup(unmap(local), unmap(remote))
}

// FindPID returns a process of peer.UID that holds the socket, or 0 when
// none is found cheaply. It reads /proc, so call it only for peers that
// were let in and only when the pid is wanted (the audit record).
func FindPID(peer Peer) int {
	return findPID(peer)
}

// unmap turns ::ffff:a.b.c.d into a.b.c.d: the kernel keeps such a
// connection in its IPv4 table.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
