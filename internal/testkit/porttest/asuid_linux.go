//go:build linux

package porttest

import (
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// AsUID runs sockets as another user for tests of the uid checks: the
// kernel takes a socket's owner from the file-system uid of the thread
// that creates it (socket(2), and accept(2) for an accepted one), so one
// locked thread with that fsuid does the calls; the rest of the process
// stays root. It needs root, and skips without.
type AsUID struct {
	work chan func()
}

// NewAsUID starts the thread for uid; it ends with the test.
func NewAsUID(t testing.TB, uid int) *AsUID {
	t.Helper()
	if runtime.GOOS != "linux" || os.Getuid() != 0 {
		t.Skip("needs root on Linux to open sockets as another uid")
	}
	a := &AsUID{work: make(chan func())}
	ready := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer release()
		_, err := unix.SetfsuidRetUid(uid)
		ready <- err
		for {
			select {
			case f := <-a.work:
				f()
			case <-done:
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("setfsuid(%d): %v", uid, err)
	}
	t.Cleanup(func() { close(done) })
	return a
}

// release gives the thread back to Go once its fsuid is root's again. A
// locked thread whose goroutine ends is destroyed instead, and that would
// kill every child the thread ever started with a parent-death signal (the
// tests' dbus-daemon and gnome-keyring: Pdeathsig follows the thread, not
// the process). If the fsuid cannot be restored, the thread dies after all.
func release() {
	unix.SetfsuidRetUid(0)
	if now, _ := unix.SetfsuidRetUid(-1); now == 0 { // -1 only reads it
		runtime.UnlockOSThread()
	}
}

// Do runs f on the thread, as the uid, and waits for it.
func (a *AsUID) Do(f func()) {
	ran := make(chan struct{})
	a.work <- func() { defer close(ran); f() }
	<-ran
}

// Dial connects as the uid.
func (a *AsUID) Dial(network, addr string) (c net.Conn, err error) {
	a.Do(func() { c, err = net.Dial(network, addr) })
	return c, err
}

// Listen opens a listener as the uid; its Accept runs as the uid too.
func (a *AsUID) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	var err error
	a.Do(func() { ln, err = net.Listen(network, addr) })
	if err != nil {
		return nil, err
	}
	return &asListener{Listener: ln, a: a}, nil
}

type asListener struct {
	net.Listener
	a *AsUID
}

// Accept blocks the uid's thread: a test that dials as the uid while
// waiting here must use another AsUID.
func (l *asListener) Accept() (c net.Conn, err error) {
	l.a.Do(func() { c, err = l.Listener.Accept() })
	return c, err
}
