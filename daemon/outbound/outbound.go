// Package outbound is the daemon's HTTP transport for requests that carry
// a secret or a token to a workspace: the Token API, SCIM Me, OAuth token
// endpoints, revocation, the code exchange.
//
// Over https the server proves who it is. Over plain http on a loopback
// address (a local gateway or proxy a profile was logged in through) it
// proves nothing: whoever binds the port while the real server is down,
// another user's process included, would receive the root PAT or refresh
// token. So before a request leaves over such a connection, the kernel is
// asked which user owns the socket that accepted it (daemon/tcppeer), and
// a connection to another user's server is closed unused.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
)

// ErrForeignListener marks a loopback server of another user: nothing was
// sent to it.
var ErrForeignListener = errors.New("the local server belongs to another user")

// Config is Transport's; zero fields take defaults.
type Config struct {
	// UID is the user a loopback http server must belong to (0: this
	// process's).
	UID int
	// Lookup names the owner of the socket at the far end; default
	// tcppeer.Lookup.
	Lookup func(local, remote netip.AddrPort) (tcppeer.Peer, error)
}

// Transport returns a RoundTripper that sends https (and http to other
// machines) as http.DefaultTransport does, and http to loopback addresses
// only to servers of cfg.UID.
func Transport(cfg Config) http.RoundTripper {
	if cfg.UID == 0 {
		cfg.UID = os.Getuid()
	}
	if cfg.Lookup == nil {
		cfg.Lookup = tcppeer.Lookup
	}
	plain := http.DefaultTransport.(*http.Transport).Clone()
	checked := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	checked.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := checkOwner(cfg, c, addr); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return roundTripper{plain: plain, checked: checked}
}

// Client is an http.Client with Transport(Config{}) and timeout.
func Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: Transport(Config{})}
}

type roundTripper struct{ plain, checked *http.Transport }

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" {
		return rt.checked.RoundTrip(r)
	}
	return rt.plain.RoundTrip(r)
}

// checkOwner refuses c when it reached a loopback address whose accepting
// socket is not cfg.UID's. Where the OS cannot tell (tcppeer.ErrUnsupported:
// not Linux), the connection is let through, as before this check: http to
// loopback is then as safe as the port is.
func checkOwner(cfg Config, c net.Conn, addr string) error {
	local, ok1 := c.LocalAddr().(*net.TCPAddr)
	remote, ok2 := c.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || !remote.IP.IsLoopback() {
		return nil
	}
	peer, err := cfg.Lookup(local.AddrPort(), remote.AddrPort())
	switch {
	case errors.Is(err, tcppeer.ErrUnsupported):
		return nil
	case err != nil:
		return fmt.Errorf("%w: cannot tell which user runs the server on http://%s (%v), so nothing was sent to it; retry, or use the workspace's https URL",
			ErrForeignListener, addr, err)
	case peer.UID != cfg.UID && peer.UID != 0:
		// root is let through: it can read the store and the daemon's
		// memory anyway, and a gateway run as a system service is common.
		return fmt.Errorf("%w: the server on http://%s runs as %s, not as you (uid %d), so no secret or token was sent to it: "+
			"another program took the port, perhaps while your gateway was down; stop it, start your gateway as yourself, or use the workspace's https URL",
			ErrForeignListener, addr, describe(peer.UID), cfg.UID)
	}
	return nil
}

func describe(uid int) string {
	s := "uid " + strconv.Itoa(uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil && u.Username != "" {
		s += " (" + u.Username + ")"
	}
	return s
}
