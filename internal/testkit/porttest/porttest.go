// Package porttest finds and watches TCP ports on 127.0.0.1 for tests of
// the OAuth callback listener (daemon/oauthlogin, daemon/core), so they
// keep off 8020, which a developer's own login may hold, and off each other.
package porttest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// Free reports whether port can be bound on 127.0.0.1 right now.
func Free(port int) bool {
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// Range finds n consecutive free ports and returns the first and last;
// usable, when given, must also accept the range.
func Range(t *testing.T, n int, usable func(first, last int) bool) (first, last int) {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		ok := p+n <= 65536
		for q := p; ok && q < p+n; q++ {
			ok = Free(q)
		}
		if ok && (usable == nil || usable(p, p+n-1)) {
			return p, p + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

// WaitFree fails the test unless port can be bound again within 5 s.
func WaitFree(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !Free(port) {
		if time.Now().After(deadline) {
			t.Fatalf("port %d still bound after the login ended", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
