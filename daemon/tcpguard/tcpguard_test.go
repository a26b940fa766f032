package tcpguard

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

// syncBuf is a log sink read while the accept loop writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// guarded starts a guarded listener that hands admitted connections to
// the test and returns its address.
func guarded(t *testing.T, cfg Config) (*Listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := Wrap(ln, cfg)
	t.Cleanup(func() { g.Close() })
	admitted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			admitted <- c
		}
	}()
	return g, admitted
}

// closedByServer reads from c until the server closes it (EOF or reset).
func closedByServer(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a refused connection open")
	}
	return b
}

// A connection of another uid is closed at Accept (with the refusal's
// answer), never handed to the server, and logged; ours is admitted and
// carries its peer.
func TestOtherUsersAreClosedAtAccept(t *testing.T) {
	logs := &syncBuf{}
	g, admitted := guarded(t, Config{Name: "test server", UID: os.Getuid(), Log: slog.New(slog.NewTextHandler(logs, nil)),
		Refusal: func(uid int) []byte { return []byte("refused uid " + strconv.Itoa(uid)) }})
	other := porttest.NewAsUID(t, 65534)
	c, err := other.Dial("tcp4", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
	if got := closedByServer(t, c); !bytes.HasPrefix(got, []byte("refused uid 65534")) {
		t.Fatalf("the refused connection read %q", got)
	}
	if !strings.Contains(logs.String(), "refused a connection from another user") || !strings.Contains(logs.String(), "peer_uid=65534") {
		t.Fatalf("refusal not logged: %s", logs)
	}
	mine, err := net.Dial("tcp4", g.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	select {
	case a := <-admitted:
		p, ok := FromContext(ConnContext(t.Context(), a))
		if !ok || !p.Known || p.UID != os.Getuid() {
			t.Fatalf("admitted peer = %+v, %v", p, ok)
		}
		if pid := p.PID(); pid != os.Getpid() && pid != 0 {
			t.Fatalf("pid = %d, want ours (%d) or unknown", pid, os.Getpid())
		}
		a.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("our own connection was not admitted")
	}
	if len(admitted) != 0 {
		t.Fatal("another uid's connection was admitted")
	}
}

// A failed lookup refuses (fail closed); an OS that cannot tell lets in,
// with the uid unknown.
func TestLookupErrors(t *testing.T) {
	var mu sync.Mutex
	var lookupErr error
	g, admitted := guarded(t, Config{UID: 1000, Lookup: func(netip.AddrPort, netip.AddrPort) (tcppeer.Peer, error) {
		mu.Lock()
		defer mu.Unlock()
		return tcppeer.Peer{}, lookupErr
	}})
	mu.Lock()
	lookupErr = tcppeer.ErrNoSocket
	mu.Unlock()
	c, _ := net.Dial("tcp4", g.Addr().String())
	closedByServer(t, c)
	c.Close()
	mu.Lock()
	lookupErr = tcppeer.ErrUnsupported
	mu.Unlock()
	c, _ = net.Dial("tcp4", g.Addr().String())
	defer c.Close()
	a := <-admitted
	defer a.Close()
	if p, _ := FromContext(ConnContext(t.Context(), a)); p.Known || p.UID != -1 {
		t.Fatalf("peer of an OS that cannot tell = %+v", p)
	}
	if len(admitted) != 0 {
		t.Fatal("a connection whose lookup failed was admitted")
	}
}

// At the cap, more connections are closed; closing one makes room.
func TestConnectionCap(t *testing.T) {
	g, admitted := guarded(t, Config{UID: os.Getuid(), MaxConns: 2})
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp4", g.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, <-admitted)
	}
	extra, _ := net.Dial("tcp4", g.Addr().String())
	closedByServer(t, extra)
	if g.Held() != 2 {
		t.Fatalf("held = %d, want 2", g.Held())
	}
	held[0].Close()
	held[0].Close() // twice gives back one place only
	c, _ := net.Dial("tcp4", g.Addr().String())
	defer c.Close()
	select {
	case a := <-admitted:
		a.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("no room after a close")
	}
	held[1].Close()
	if g.Held() != 0 {
		t.Fatalf("held = %d after every close", g.Held())
	}
}

// A flood of refusals writes one line per logEvery, counting the rest.
func TestRefusalLogIsRateLimited(t *testing.T) {
	logs := &syncBuf{}
	now := time.Unix(1_800_000_000, 0)
	cfg := Config{Name: "x", Log: slog.New(slog.NewTextHandler(logs, nil)), Now: func() time.Time { return now }}
	var r refusalLog
	for range 1000 {
		r.note(cfg, "refused a connection from another user", 65534)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d lines for 1000 refusals in one instant", n)
	}
	now = now.Add(logEvery)
	r.note(cfg, "refused a connection from another user", 65534)
	if !strings.Contains(logs.String(), "more_refused_since_last_line=999") {
		t.Fatalf("the second line does not count the suppressed ones: %s", logs)
	}
}
