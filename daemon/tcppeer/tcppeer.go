// Package tcppeer asks the kernel which user owns the other end of a TCP
// connection on this machine, so a loopback HTTP server can refuse other
// users the way the Unix socket's SO_PEERCRED check does. TCP carries no
// peer credentials; on Linux the socket table in /proc/net/tcp says which
// uid opened each socket. Elsewhere there is no such table and Lookup
// returns ErrUnsupported.
package tcppeer

import (
	"errors"
	"net/netip"
)

// ErrUnsupported means this OS offers no way to learn a TCP peer's uid.
var ErrUnsupported = errors.New("this OS does not tell the uid of a TCP peer")

// Peer is the owner of a local TCP socket.
type Peer struct {
	UID int
	// PID is a process holding the socket, 0 when none was found cheaply.
	// Several processes may share a socket (fork); any one of them is named.
	PID int
}

// Lookup finds the owner of the client socket of a connection that this
// process accepted: server is the connection's local address, client its
// remote address (both on this machine, in this network namespace).
func Lookup(server, client netip.AddrPort) (Peer, error) {
	return lookup(server, client)
}
