// Package tcpguard lets only this user's processes into a loopback TCP
// server: the metadata service, the OAuth login's callback, and every
// later local HTTP endpoint of the daemon. A Listener looks each accepted
// connection's owner up once (daemon/tcppeer), closes one of another uid
// at once, caps the connections it holds, and hands the peer to the
// handlers through the connection's context.
//
// Why at Accept and not per request: another uid can open connections far
// faster than a handler can refuse requests on them. Refused at Accept, a
// connection costs one kernel lookup and a close, holds no goroutine, and
// never reaches HTTP parsing, so a flood from another user cannot starve
// this user's requests of CPU, memory or log lines (the review that asked
// for this held 21,000 connections open against a per-request check).
package tcpguard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
)

// Defaults for Config's zero fields.
const (
	DefaultMaxConns = 64
	// logEvery is how often a refusal is logged at most; the refusals in
	// between are counted into the next line.
	logEvery = 10 * time.Second
	// refusalWrite bounds reading a refused request and writing the
	// answer: a peer that sends or reads slowly gets nothing more.
	refusalWrite = 200 * time.Millisecond
	// maxAnswering bounds the refused connections answered at once.
	maxAnswering = 4
)

// Config says whom a Listener lets in.
type Config struct {
	// Name names the server in log lines, e.g. "metadata service".
	Name string
	// UID is the only user let in.
	UID int
	// MaxConns caps the connections held at once (DefaultMaxConns when 0);
	// more are closed as they come.
	MaxConns int
	Log      *slog.Logger
	// Lookup names a connection's peer; default tcppeer.Lookup.
	// tcppeer.ErrUnsupported lets everyone in (the OS cannot tell; the
	// server's own secret, such as an unguessable path, is then all that
	// protects it); any other error refuses the connection.
	Lookup func(local, remote netip.AddrPort) (tcppeer.Peer, error)
	// Refusal, when set, is written to a refused connection before it is
	// closed (best effort), so a client of another user learns why: the
	// answer of an HTTP server, say. Its argument is the peer's uid, -1
	// when unknown.
	Refusal func(uid int) []byte
	Now     func() time.Time
}

// Peer is the owner of an accepted connection.
type Peer struct {
	// UID is the peer's uid; -1 when the OS cannot tell (Known false).
	UID   int
	Known bool
	pid   func() int
}

// PID is a process holding the peer's socket, 0 when none is found
// cheaply. Looked up on first use, at most once per connection: only
// the audit record wants it, and a refused peer never pays for it.
func (p *Peer) PID() int { return p.pid() }

// Listener is a net.Listener that lets only Config.UID in.
type Listener struct {
	net.Listener
	cfg       Config
	held      atomic.Int64 // admitted connections open
	answering atomic.Int64 // refusals being answered
	logs      refusalLog
}

// Wrap guards ln.
func Wrap(ln net.Listener, cfg Config) *Listener {
	if cfg.Lookup == nil {
		cfg.Lookup = tcppeer.Lookup
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Listener{Listener: ln, cfg: cfg}
}

// Held is how many accepted connections are open now.
func (l *Listener) Held() int { return int(l.held.Load()) }

// Accept returns the next connection of the user; others are closed here.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if g := l.admit(c); g != nil {
			return g, nil
		}
	}
}

// admit returns c guarded, or nil once it has refused and closed it.
func (l *Listener) admit(c net.Conn) net.Conn {
	peer, why := l.identify(c)
	if why != "" {
		l.refuse(c, peerUID(peer), why)
		return nil
	}
	if n := l.held.Add(1); n > int64(l.cfg.MaxConns) {
		l.held.Add(-1)
		l.logs.note(l.cfg, fmt.Sprintf("refused a connection: %d of this user's are open already", l.cfg.MaxConns), -1)
		c.Close()
		return nil
	}
	return &conn{Conn: c, peer: peer, held: &l.held}
}

// identify names c's peer; why is non-empty when it is not let in.
func (l *Listener) identify(c net.Conn) (*Peer, string) {
	local, err1 := addrPort(c.LocalAddr())
	remote, err2 := addrPort(c.RemoteAddr())
	if err1 != nil || err2 != nil {
		return nil, "refused a connection: cannot tell who is calling (no TCP address)"
	}
	sock, err := l.cfg.Lookup(local, remote)
	switch {
	case errors.Is(err, tcppeer.ErrUnsupported):
		return &Peer{UID: -1, pid: func() int { return 0 }}, ""
	case err != nil:
		return &Peer{UID: -1}, "refused a connection: cannot tell which user is calling: " + err.Error()
	case sock.UID != l.cfg.UID:
		return &Peer{UID: sock.UID}, fmt.Sprintf("refused a connection from another user: uid %d is not this daemon's user (uid %d)", sock.UID, l.cfg.UID)
	}
	return &Peer{UID: sock.UID, Known: true, pid: sync.OnceValue(func() int { return tcppeer.FindPID(sock) })}, ""
}

// refuse closes c. With a Refusal, and while fewer than maxAnswering
// refusals are being answered, it first reads the request (briefly) and
// answers it in a goroutine of its own: an answer written before the
// request arrives reads as garbage to an HTTP client (Go's transport
// calls it an unsolicited response). Past that bound, as under a flood,
// refused connections are closed unanswered, so the accept loop never
// waits on them.
func (l *Listener) refuse(c net.Conn, uid int, why string) {
	l.logs.note(l.cfg, why, uid)
	if l.cfg.Refusal == nil || l.answering.Add(1) > maxAnswering {
		if l.cfg.Refusal != nil {
			l.answering.Add(-1)
		}
		c.Close()
		return
	}
	go func() {
		defer l.answering.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(refusalWrite))
		readHeader(c)
		c.Write(l.cfg.Refusal(uid))
	}()
}

// readHeader reads until the end of an HTTP request's header, at most
// 4 KiB or until the connection's deadline.
func readHeader(c net.Conn) {
	buf := make([]byte, 4096)
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if bytes.Contains(buf[:n], []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort(), nil
	}
	if a == nil {
		return netip.AddrPort{}, errors.New("no address")
	}
	return netip.ParseAddrPort(a.String())
}

// conn is an admitted connection: it carries its peer and gives its place
// back under the cap once, when closed.
type conn struct {
	net.Conn
	peer   *Peer
	held   *atomic.Int64
	closed atomic.Bool
}

func (c *conn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.held.Add(-1)
	}
	return c.Conn.Close()
}

type ctxKey struct{}

// ConnContext is http.Server's ConnContext for a server on a Listener: it
// puts the connection's peer into every request's context.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if g, ok := c.(*conn); ok {
		return context.WithValue(ctx, ctxKey{}, g.peer)
	}
	return ctx
}

// FromContext returns the peer a Listener admitted the request's
// connection for; false when the connection did not come through one,
// which a handler must treat as "unknown caller" and refuse.
func FromContext(ctx context.Context) (*Peer, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Peer)
	return p, ok
}

// refusalLog writes at most one refusal line per logEvery, counting the
// ones in between into it: a flood of refusals must not become a flood of
// log writes.
type refusalLog struct {
	mu         sync.Mutex // guards the fields below
	last       time.Time
	suppressed int
}

func (r *refusalLog) note(cfg Config, msg string, uid int) {
	now := cfg.Now()
	r.mu.Lock()
	if !r.last.IsZero() && now.Sub(r.last) < logEvery {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	cfg.Log.Warn(cfg.Name+": "+msg, "peer_uid", uid, "more_refused_since_last_line", n)
}

func peerUID(p *Peer) int {
	if p == nil {
		return -1
	}
	return p.UID
}

// HTTPRefusal is a Config.Refusal for an HTTP server (server names it in
// the message): a 403 with a JSON body, which the SDKs and curl show, so
// the user who pointed a client at someone else's daemon learns why.
func HTTPRefusal(server string, uid int) func(peer int) []byte {
	return func(peer int) []byte {
		who := "an unknown user"
		if peer >= 0 {
			who = "uid " + strconv.Itoa(peer)
		}
		body := `{"error_code":"PERMISSION_DENIED","message":"` + server + ` serves only uid ` + strconv.Itoa(uid) + `; request from ` + who + ` refused"}`
		return []byte("HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
}
