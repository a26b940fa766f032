//go:build linux || darwin

package safesocket

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func dialCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// shortDir is a private directory with a path short enough for bind(2).
func shortDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "dbxs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestDialOurServer(t *testing.T) {
	path := filepath.Join(shortDir(t), "s")
	l := mustListen(t, path)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(dialCtx(t), path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
}

func TestDialNoDaemonIsNotExist(t *testing.T) {
	for _, path := range []string{
		filepath.Join(shortDir(t), "missing", "s"), // no directory
		filepath.Join(shortDir(t), "s"),            // no socket
	} {
		if _, err := Dial(dialCtx(t), path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Dial(%s) = %v, want fs.ErrNotExist", path, err)
		}
	}
}

// A directory that breaks the rules is refused before connecting, so the
// server listening there never sees a connection.
func TestDialRefusesOpenOrSymlinkedDir(t *testing.T) {
	open := shortDir(t)
	os.Chmod(open, 0o755)
	linked := filepath.Join(shortDir(t), "l")
	target := shortDir(t)
	if err := os.Symlink(target, linked); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ dir, listenDir, want string }{
		{open, open, "is accessible by group or others (mode 0755)"},
		{linked, target, "is a symlink"},
	} {
		l, err := net.Listen("unix", filepath.Join(tt.listenDir, "s"))
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan bool, 1)
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err == nil
		}()
		_, err = Dial(dialCtx(t), filepath.Join(tt.dir, "s"))
		var de *DirError
		if !errors.As(err, &de) || de.Path != tt.dir || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Dial in %s = %v, want a *DirError that says %q", tt.dir, err, tt.want)
		}
		l.Close() // ends the Accept unless Dial connected
		if <-accepted {
			t.Errorf("Dial connected to the server in %s before refusing", tt.dir)
		}
	}
}
