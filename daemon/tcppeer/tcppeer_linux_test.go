//go:build linux

package tcppeer

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// A real loopback connection: the client end belongs to this process.
func TestLookupFindsOurOwnClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p, err := Lookup(conn.LocalAddr().(*net.TCPAddr).AddrPort(), conn.RemoteAddr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	// The pid is found within a time budget; 0 is allowed when the machine
	// is slow, but never another process.
	if p.UID != os.Getuid() || (p.PID != os.Getpid() && p.PID != 0) {
		t.Fatalf("Lookup = %+v, want uid %d pid %d", p, os.Getuid(), os.Getpid())
	}
	// Without the budget the scan must find us.
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, inode, err := findSocket(f, conn.RemoteAddr().(*net.TCPAddr).AddrPort(), conn.LocalAddr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	if pid := findPID(os.Getuid(), inode, time.Now().Add(time.Minute)); pid != os.Getpid() {
		t.Fatalf("findPID = %d, want %d", pid, os.Getpid())
	}
	// Swapping the ends finds the server's own row, not the client's.
	if _, err := Lookup(netip.MustParseAddrPort("127.0.0.1:1"), conn.RemoteAddr().(*net.TCPAddr).AddrPort()); err == nil {
		t.Fatal("a connection that does not exist was found")
	}
}

func TestFindSocketParsesTheTable(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2117 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:D431 0100007F:2117 01 00000000:00000000 00:00000000 00000000  1001        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:2117 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
`
	// 0100007F is 127.0.0.1 on a little-endian machine; on big-endian the
	// kernel would print 7F000001. Build the test for the running machine.
	table1 := table
	if p, _ := parseAddr("7F000001:0001"); p.Addr() == netip.MustParseAddr("127.0.0.1") {
		table1 = strings.ReplaceAll(table, "0100007F", "7F000001")
	}
	uid, inode, err := findSocket(strings.NewReader(table1),
		netip.MustParseAddrPort("127.0.0.1:54321"), netip.MustParseAddrPort("127.0.0.1:8471"))
	if err != nil || uid != 1001 || inode != 222 {
		t.Fatalf("findSocket = %d, %d, %v; want 1001, 222", uid, inode, err)
	}
	if _, _, err := findSocket(strings.NewReader(table1),
		netip.MustParseAddrPort("127.0.0.1:54322"), netip.MustParseAddrPort("127.0.0.1:8471")); err == nil {
		t.Fatal("found a socket that is not in the table")
	}
}

func TestParseAddrV6(t *testing.T) {
	// ::1 port 443 as the kernel prints it on this machine's byte order.
	want := netip.MustParseAddrPort("[::1]:443")
	for _, s := range []string{"00000000000000000000000001000000:01BB", "00000000000000000000000000000001:01BB"} {
		if got, err := parseAddr(s); err == nil && got == want {
			return
		}
	}
	t.Fatal("neither byte order parsed to [::1]:443")
}
