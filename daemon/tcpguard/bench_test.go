package tcpguard

import (
	"io"
	"net"
	"os"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

// BenchmarkRefusedConnection is what one connection of another user costs
// the server, end to end on loopback: the client's connect, the request, the
// accept, the sock_diag lookup, the refusal's read and write and the close, until the
// client sees EOF. Run as root (it connects as uid 65534):
//
//	go test -run '^$' -bench RefusedConnection ./daemon/tcpguard/
func BenchmarkRefusedConnection(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	benchConnections(b, Wrap(ln, Config{UID: os.Getuid(), Refusal: func(int) []byte { return []byte("HTTP/1.1 403 Forbidden\r\n\r\n") }}))
}

// BenchmarkUnguardedConnection is the same loop with a server that closes
// every connection unchecked: the difference to BenchmarkRefusedConnection
// is what the guard adds.
func BenchmarkUnguardedConnection(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	benchConnections(b, ln)
}

func benchConnections(b *testing.B, g net.Listener) {
	other := porttest.NewAsUID(b, 65534)
	defer g.Close()
	go func() {
		for {
			c, err := g.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := g.Addr().String()
	for b.Loop() {
		c, err := other.Dial("tcp4", addr)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(request)
		io.Copy(io.Discard, c)
		c.Close()
	}
}

// request is what an HTTP client sends first: a refused one is read
// before it is answered.
var request = []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

// BenchmarkLookup is the sock_diag query alone, for one live connection.
func BenchmarkLookup(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, _ := ln.Accept()
	defer s.Close()
	local, remote := s.LocalAddr().(*net.TCPAddr).AddrPort(), s.RemoteAddr().(*net.TCPAddr).AddrPort()
	for b.Loop() {
		if _, err := tcppeer.Lookup(local, remote); err != nil {
			b.Fatal(err)
		}
	}
}
