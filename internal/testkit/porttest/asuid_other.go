//go:build !linux

package porttest

import (
	"context"
	"net"
	"testing"
)

// AsUID needs Linux (setfsuid); elsewhere the tests that use it skip.
type AsUID struct{}

// NewAsUID skips the test: only Linux sets a socket's owner per thread.
func NewAsUID(t testing.TB, uid int) *AsUID {
	t.Skip("opening sockets as another uid needs Linux")
	return nil
}

// Do is never reached (NewAsUID skips).
func (a *AsUID) Do(f func()) { f() }

// Dial is never reached (NewAsUID skips).
func (a *AsUID) Dial(network, addr string) (net.Conn, error) { return net.Dial(network, addr) }

// Listen is never reached (NewAsUID skips).
func (a *AsUID) Listen(network, addr string) (net.Listener, error) { return net.Listen(network, addr) }

// FloodStats is what a Flood did.
type FloodStats struct{ Dialed, ClosedByServer, DialErrors int }

// Flood skips the test outside Linux.
func Flood(ctx context.Context, t testing.TB, uid, threads int, addr string, request []byte, maxOpen, maxDials int) FloodStats {
	t.Skip("flooding as another uid needs Linux")
	return FloodStats{}
}
