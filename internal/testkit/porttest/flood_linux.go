//go:build linux

package porttest

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// FloodStats is what a Flood did.
type FloodStats struct {
	Dialed int // connections opened
	// ClosedByServer counts the connections the server had closed by the
	// time the flood let go of them (a sample: each is checked once, as it
	// is dropped to make room).
	ClosedByServer int
	DialErrors     int
}

// Flood opens keep-alive connections to addr from uid, threads at a time,
// each sending request once, holding up to maxOpen of them, until ctx ends
// or maxDials connections were opened: the attack of another local user
// on a loopback server. It is bounded in count and time by its caller and
// sends only to addr (a loopback address of the test's own server).
func Flood(ctx context.Context, t testing.TB, uid, threads int, addr string, request []byte, maxOpen, maxDials int) FloodStats {
	t.Helper()
	var mu sync.Mutex
	var total FloodStats
	var wg sync.WaitGroup
	for i := range threads {
		as := NewAsUID(t, uid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st FloodStats
			open := make([]net.Conn, 0, maxOpen/threads+1)
			buf := make([]byte, 4096)
			drop := func(c net.Conn) {
				// Closed by the server: reading ends in EOF or a reset
				// (after any answer it wrote) rather than the deadline.
				c.SetReadDeadline(time.Now().Add(time.Millisecond))
				for {
					_, err := c.Read(buf)
					if err == nil {
						continue
					}
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						st.ClosedByServer++
					}
					break
				}
				c.Close()
			}
			for n := i; n < maxDials && ctx.Err() == nil; n += threads {
				c, err := as.Dial("tcp4", addr)
				if err != nil {
					st.DialErrors++
					continue
				}
				st.Dialed++
				c.Write(request)
				if len(open) == cap(open) {
					drop(open[0])
					open = append(open[:0], open[1:]...)
				}
				open = append(open, c)
			}
			for _, c := range open {
				drop(c)
			}
			mu.Lock()
			total.Dialed += st.Dialed
			total.ClosedByServer += st.ClosedByServer
			total.DialErrors += st.DialErrors
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}
