//go:build linux

package tcppeer

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

func addrs(c net.Conn) (local, remote netip.AddrPort) {
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

// pair connects to a fresh listener on addr and returns both ends.
func pair(t *testing.T, network, addr string) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("no %s loopback here: %v", network, err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

// Real loopback connections, v4 and v6: both ends belong to this process,
// and each end finds the other.
func TestLookupFindsBothEnds(t *testing.T) {
	for _, c := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(c.network, func(t *testing.T) {
			server, client := pair(t, c.network, c.addr)
			p, err := Lookup(addrs(server)) // the server asks who the client is
			if err != nil {
				t.Fatal(err)
			}
			if p.UID != os.Getuid() || p.Inode == 0 {
				t.Fatalf("Lookup = %+v, want uid %d and an inode", p, os.Getuid())
			}
			if pid := findPIDWithin(p, time.Minute); pid != os.Getpid() {
				t.Fatalf("findPID = %d, want %d", pid, os.Getpid())
			}
			q, err := Lookup(addrs(client)) // the client asks who accepted it
			if err != nil || q.UID != os.Getuid() || q.Inode == p.Inode {
				t.Fatalf("the client's lookup = %+v, %v", q, err)
			}
		})
	}
}

// A v4 client of a dual-stack listener is seen as ::ffff:a.b.c.d.
func TestLookupUnmapsV4InV6(t *testing.T) {
	server, _ := pair(t, "tcp", "127.0.0.1:0")
	l, r := addrs(server)
	mapped := func(a netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
	}
	if p, err := Lookup(mapped(l), mapped(r)); err != nil || p.UID != os.Getuid() {
		t.Fatalf("mapped lookup = %+v, %v", p, err)
	}
}

func TestLookupOfNoSocket(t *testing.T) {
	server, _ := pair(t, "tcp4", "127.0.0.1:0")
	l, r := addrs(server)
	if _, err := Lookup(netip.MustParseAddrPort("127.0.0.1:1"), r); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("a connection that does not exist: %v", err)
	}
	if _, err := Lookup(l, netip.AddrPortFrom(r.Addr(), r.Port()+1)); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("a connection that does not exist: %v", err)
	}
}

// Another uid's socket is named as that uid's: a listener opened by uid
// 65534 accepts our connection, and the client's lookup of the accepted
// end names 65534.
func TestLookupNamesAnotherUser(t *testing.T) {
	ln, err := porttest.NewAsUID(t, 65534).Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Before and after the accept: the connection waiting in the queue
	// is the listener's owner's already.
	if p, err := Lookup(addrs(c)); err != nil || p.UID != 65534 {
		t.Fatalf("the client's lookup before the accept = %+v, %v; want uid 65534", p, err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if p, err := Lookup(addrs(c)); err != nil || p.UID != 65534 {
		t.Fatalf("the client's lookup = %+v, %v; want uid 65534", p, err)
	}
	if p, err := Lookup(addrs(s)); err != nil || p.UID != os.Getuid() {
		t.Fatalf("the server's lookup = %+v, %v; want uid %d", p, err, os.Getuid())
	}
}

func findPIDWithin(p Peer, d time.Duration) int {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if pid := findPID(p); pid != 0 {
			return pid
		}
	}
	return 0
}

// The fallback for sandboxes without sock_diag finds the same owner.
func TestProcFallbackAgrees(t *testing.T) {
	server, _ := pair(t, "tcp4", "127.0.0.1:0")
	l, r := addrs(server)
	want, err := Lookup(l, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := lookupProc(l, r)
	if err != nil || got != want {
		t.Fatalf("lookupProc = %+v, %v; sock_diag said %+v", got, err, want)
	}
	if _, err := lookupProc(netip.MustParseAddrPort("127.0.0.1:1"), r); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("a connection that does not exist: %v", err)
	}
}
