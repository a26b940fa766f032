package e2e

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

// A profile on a plain-http loopback host (a local gateway) must not send
// its PAT to whoever holds that port: here a program of uid 65534, as if it
// took the port while the gateway was down. The login fails naming the
// owner, and that program reads nothing.
func TestLoopbackHostOfAnotherUserGetsNoSecret(t *testing.T) {
	ln, err := porttest.NewAsUID(t, 65534).Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var read []byte
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, _ := io.ReadAll(c)
			c.Close()
			mu.Lock()
			read = append(read, b...)
			mu.Unlock()
		}
	}()
	w := newWorld(t)
	w.startDaemon()
	_, stderr, code := w.helper(w.pat+"\n", "login", "-p", "gw", "--host", "http://"+ln.Addr().String())
	if code == 0 || !strings.Contains(stderr, "uid 65534") || !strings.Contains(stderr, "another user") {
		t.Fatalf("login to another user's loopback server: exit %d, %q", code, stderr)
	}
	t.Logf("login said: %s", stderr)
	ln.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(string(read), w.pat) || strings.Contains(string(read), "Authorization") {
		t.Fatalf("the other user's server read %q", read)
	}
	w.assertNoSecretOnDisk(w.pat)
}
