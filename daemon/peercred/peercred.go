// Package peercred gives a gRPC server on a Unix socket the kernel's word
// on who is calling: transport credentials that read the peer's uid and pid
// for every connection, and interceptors that refuse any uid but ours
// before a handler runs. It is the daemon's half of ssh-agent's model; the
// socket's private directory (internal/safesocket) is the other half.
package peercred

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/dbx-cred/dbx-cred/internal/sockpeer"
)

// AuthInfo is what the kernel said about the other end of a connection.
// Known is false when it could not say (always on Windows).
type AuthInfo struct {
	credentials.CommonAuthInfo
	UID   int
	PID   int
	Known bool
	// Exe is the peer's executable when it connected ("" if unknown). Read
	// once per connection: a connection serves many calls, and the audit
	// trail wants it for each.
	Exe string
}

// AuthType implements credentials.AuthInfo.
func (AuthInfo) AuthType() string { return "peercred" }

// ValidateAuthority accepts any :authority override, as credentials/local
// does: a Unix socket has no host name to verify.
func (AuthInfo) ValidateAuthority(string) error { return nil }

// FromContext returns the peer credentials of the connection a call came
// in on, if the server uses TransportCredentials.
func FromContext(ctx context.Context) (AuthInfo, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return AuthInfo{}, false
	}
	ai, ok := p.AuthInfo.(AuthInfo)
	return ai, ok
}

// TransportCredentials returns server-side credentials that record each
// Unix-socket peer's uid and pid and refuse any other kind of connection.
// They do not refuse foreign uids themselves: the interceptors do, so the
// caller gets a PermissionDenied it can explain instead of a dropped
// connection.
func TransportCredentials() credentials.TransportCredentials {
	return &transportCreds{info: credentials.ProtocolInfo{SecurityProtocol: "peercred"}}
}

type transportCreds struct {
	info credentials.ProtocolInfo
}

func (c *transportCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return handshake(conn)
}

// ClientHandshake passes the connection through (the helper dials with
// insecure credentials); it still records the server's credentials.
func (c *transportCreds) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return handshake(conn)
}

func (c *transportCreds) Info() credentials.ProtocolInfo { return c.info }

func (c *transportCreds) Clone() credentials.TransportCredentials {
	return &transportCreds{info: c.info}
}

// OverrideServerName is deprecated in gRPC and has no meaning on a Unix
// socket; it exists only to satisfy the interface.
func (c *transportCreds) OverrideServerName(string) error { return nil }

// Identify is the server handshake without grpc-go (daemon/unarygrpc):
// conn's peer as an AuthInfo, or an error for a connection that is not on
// a Unix socket.
func Identify(conn net.Conn) (credentials.AuthInfo, error) {
	_, ai, err := handshake(conn)
	return ai, err
}

func handshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	// Only a Unix socket carries kernel-checked credentials; on TCP,
	// SO_PEERCRED would return a made-up uid, so refuse outright.
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, nil, fmt.Errorf("peercred: refusing %s connection from %s: only Unix sockets carry peer credentials",
			conn.RemoteAddr().Network(), conn.RemoteAddr())
	}
	// PrivacyAndIntegrity, as credentials/local reports for Unix sockets:
	// nobody else can read or alter bytes on a local socket, and gRPC will
	// not send per-RPC credentials (e.g. a token) over a connection that
	// reports NoSecurity.
	info := AuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
	// A failure leaves Known false, which the interceptors refuse on Linux
	// and macOS; the connection stays up so the caller learns why.
	if cred, err := sockpeer.Read(uc); err == nil {
		info.UID, info.PID, info.Known = cred.UID, cred.PID, true
		info.Exe = Exe(cred.PID)
	}
	return conn, info, nil
}
