//go:build linux || darwin

package sockpeer

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// Both ends of a real socket see this process: its uid, and on Linux and
// macOS its pid.
func TestReadSeesBothEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.UnixConn, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	for name, c := range map[string]*net.UnixConn{"client's peer": client, "server's peer": server} {
		cred, err := Read(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cred.UID != os.Getuid() || cred.PID != os.Getpid() {
			t.Errorf("%s = %+v, want uid %d pid %d", name, cred, os.Getuid(), os.Getpid())
		}
	}
}
