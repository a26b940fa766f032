package bench

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// conns is how many client connections, one goroutine each, share the load.
const conns = 64

// BenchmarkGetToken64 makes b.N GetToken calls in all to the real dbx-credd
// from 64 goroutines, each on its own gRPC connection to the socket, dialled
// as the helper dials. It reports calls/s (b.N over the wall time of the
// whole burst) and the 50th and 99th percentile latency of single calls.
func BenchmarkGetToken64(b *testing.B) {
	w := sharedWorld(b)
	ctx := context.Background()
	req := &pb.GetTokenRequest{Profile: profile}
	clients := make([]pb.AgentServiceClient, conns)
	for i := range clients {
		conn, err := grpc.NewClient(safesocket.Target(w.socket), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		clients[i] = pb.NewAgentServiceClient(conn)
		// Connects, and proves the answer, before timing starts.
		resp, err := clients[i].GetToken(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if !strings.HasPrefix(resp.GetAccessToken(), "dapi") || resp.GetAccessToken() == w.pat {
			b.Fatal("GetToken returned something other than a minted token")
		}
	}

	lat := make([]time.Duration, b.N)
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(lat)) {
					return
				}
				t0 := time.Now()
				_, err := c.GetToken(ctx, req)
				lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d GetToken calls failed, the first with: %v", n, b.N, firstErr)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 99)), "p99-µs")
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
