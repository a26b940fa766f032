package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// conns is how many client connections share the load.
const conns = 64

// getTokenMethod is the full gRPC method name of GetToken.
var getTokenMethod = "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/GetToken"

// epollLoad is the throughput benchmark's load generator: conns HTTP/2
// connections to the gRPC server on socket, each with one call in flight,
// driven from one OS thread through epoll, as h2load or wrk drive HTTP
// servers (neither speaks gRPC on a Unix socket). The request's frames are
// encoded once (HPACK as grpc-go encodes them) and only their stream ids
// change; every answer is checked: HTTP status 200, grpc-status 0, one
// message that check accepts.
//
// The point is to leave the 2 cores to the daemon: with a goroutine per
// connection a Go client spends 30 µs of CPU per call (parking, netpoll,
// timers); this spends a write, a read and a share of an epoll_wait.
// The loop itself is in epollload_linux_test.go.
type epollLoad struct {
	socket string
	conns  int
	method string
	req    proto.Message
	// check decodes and checks one answer's message bytes.
	check func(msg []byte) error
}

// caller makes one GetToken call on its own connection.
type caller func() (tokenAnswer, error)

// tokenAnswer is a GetToken answer, from the helper's lite messages or
// grpc-go's.
type tokenAnswer interface{ GetAccessToken() string }

// BenchmarkGetToken64 is the daemon's throughput: b.N GetToken calls in all
// to the real dbx-credd over 64 connections, one call in flight on each,
// from epollLoad, a load generator that leaves as much of the 2 cores as it
// can to the daemon. It reports calls/s (b.N over the wall time of the
// whole burst), the 50th and 99th percentile latency of single calls, and
// the CPU each side spent per call.
func BenchmarkGetToken64(b *testing.B) {
	w := sharedWorld(b)
	var resp pb.GetTokenResponse
	load := &epollLoad{socket: w.socket, conns: conns, method: getTokenMethod,
		req: &pb.GetTokenRequest{Profile: profile},
		check: func(msg []byte) error {
			if err := proto.Unmarshal(msg, &resp); err != nil {
				return fmt.Errorf("decode the answer: %w", err)
			}
			return mintedToken(w, &resp)
		}}
	// The untimed warm-up: connects, and proves the answers, once.
	if _, err := load.run(conns, time.Minute); err != nil {
		b.Fatal(err)
	}
	measure(b, w, func() ([]time.Duration, error) { return load.run(b.N, 10*time.Minute) })
}

// BenchmarkGetToken64Helper is the same burst from 64 connections of the
// helper's own client (helper/grpcwire), one goroutine each, exactly as
// dbx-cred token calls (a 30 s deadline, sent as grpc-timeout), on one OS
// thread at a time: what 64 helpers' worth of calls cost both sides.
func BenchmarkGetToken64Helper(b *testing.B) {
	w := sharedWorld(b)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runGetToken64(b, w, func() (caller, func(), error) {
		nc, err := net.Dial("unix", w.socket)
		if err != nil {
			return nil, nil, err
		}
		c := grpcwire.NewConn(nc)
		req := &lite.GetTokenRequest{Profile: profile}
		return func() (tokenAnswer, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			resp := new(lite.GetTokenResponse)
			return resp, c.Invoke(ctx, getTokenMethod, req, resp)
		}, func() { c.Close() }, nil
	})
}

// BenchmarkGetToken64GRPCGo is the same burst from 64 grpc-go client
// connections, all in this one process: what a grpc-go program gets when it
// shares the 2 cores with the daemon.
func BenchmarkGetToken64GRPCGo(b *testing.B) {
	w := sharedWorld(b)
	ctx := context.Background()
	req := &pb.GetTokenRequest{Profile: profile}
	runGetToken64(b, w, func() (caller, func(), error) {
		conn, err := grpc.NewClient(safesocket.Target(w.socket), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, nil, err
		}
		c := agentgrpc.NewAgentServiceClient(conn)
		return func() (tokenAnswer, error) { return c.GetToken(ctx, req) }, func() { conn.Close() }, nil
	})
}

// BenchmarkTransportFloor is BenchmarkGetToken64's burst against the
// daemon's service with a GetToken that answers a constant
// (internal/testkit/floorserver), served by each transport the daemon has:
// grpc-go's server with the options it had on the main socket, and
// daemon/unarygrpc, which serves it now. Its CPU per call is the floor
// under the daemon's: the daemon's own work adds the rest.
func BenchmarkTransportFloor(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("the load generator needs Linux (epoll)")
	}
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	for _, transport := range []string{"grpc-go", "unarygrpc"} {
		b.Run(transport, func(b *testing.B) {
			sock := filepath.Join(b.TempDir(), "floor.sock")
			cmd := exec.Command(filepath.Join(binDir, "floorserver"), "-transport", transport, sock)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
			if err := waitForSocket(sock, 10*time.Second); err != nil {
				b.Fatal(err)
			}
			var resp pb.GetTokenResponse
			load := &epollLoad{socket: sock, conns: conns, method: getTokenMethod,
				req: &pb.GetTokenRequest{Profile: profile},
				check: func(msg []byte) error {
					if err := proto.Unmarshal(msg, &resp); err != nil {
						return fmt.Errorf("decode the answer: %w", err)
					}
					if !strings.HasPrefix(resp.GetAccessToken(), "dapi-floor-") {
						return errors.New("not the floor server's answer")
					}
					return nil
				}}
			if _, err := load.run(conns, time.Minute); err != nil {
				b.Fatal(err)
			}
			measurePID(b, cmd.Process.Pid, func() ([]time.Duration, error) { return load.run(b.N, 10*time.Minute) })
		})
	}
}

// waitForSocket waits until something listens on sock.
func waitForSocket(sock string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", sock, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mintedToken fails unless resp holds a minted token: not empty, not the
// stored root.
func mintedToken(w *world, resp tokenAnswer) error {
	if !strings.HasPrefix(resp.GetAccessToken(), "dapi") || resp.GetAccessToken() == w.pat {
		return errors.New("GetToken returned something other than a minted token")
	}
	return nil
}

// runGetToken64 dials conns connections with dial, proves each answers with
// a minted token before timing starts, then times b.N calls shared among
// them, a goroutine per connection.
func runGetToken64(b *testing.B, w *world, dial func() (caller, func(), error)) {
	callers := make([]caller, conns)
	for i := range callers {
		call, closeFn, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		defer closeFn()
		callers[i] = call
		resp, err := call()
		if err != nil {
			b.Fatal(err)
		}
		if err := mintedToken(w, resp); err != nil {
			b.Fatal(err)
		}
	}
	measure(b, w, func() ([]time.Duration, error) {
		lat := make([]time.Duration, b.N)
		var next, failed atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		for _, call := range callers {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= int64(len(lat)) {
						return
					}
					t0 := time.Now()
					resp, err := call()
					lat[i] = time.Since(t0)
					if err == nil {
						err = mintedToken(w, resp)
					}
					if err != nil {
						failed.Add(1)
						once.Do(func() { firstErr = err })
					}
				}
			})
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			return nil, fmt.Errorf("%d of %d GetToken calls failed, the first with: %v", n, b.N, firstErr)
		}
		return lat, nil
	})
}

// measure times burst, which makes b.N calls and returns their latencies,
// and reports throughput, latency percentiles, each side's CPU per call,
// the machine's idle and steal shares, and the daemon's peak RSS.
func measure(b *testing.B, w *world, burst func() ([]time.Duration, error)) {
	pid, err := w.daemonPID()
	if err != nil {
		b.Fatal(err)
	}
	measurePID(b, pid, burst)
}

// measurePID is measure for the server process pid.
func measurePID(b *testing.B, pid int, burst func() ([]time.Duration, error)) {
	b.ResetTimer()
	daemonCPU0, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	selfCPU0 := selfCPU()
	machine0, err := machineCPU()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	lat, err := burst()
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	daemonCPU1, err := procCPU(pid)
	if err != nil {
		b.Fatal(err)
	}
	clientCPU := selfCPU() - selfCPU0
	machine1, err := machineCPU()
	if err != nil {
		b.Fatal(err)
	}
	idle, steal := share(machine0, machine1)
	peakRSS, err := procStatusKB(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(micros(percentile(lat, 50)), "p50-µs")
	b.ReportMetric(micros(percentile(lat, 99)), "p99-µs")
	// CPU per call on each side says where the 2 cores went: the load
	// generator shares them with the daemon.
	b.ReportMetric(micros(daemonCPU1-daemonCPU0)/float64(b.N), "daemon-cpu-µs/call")
	b.ReportMetric(micros(clientCPU)/float64(b.N), "client-cpu-µs/call")
	// Idle is capacity the run left unused; steal is capacity the
	// hypervisor took: both explain a slow run on a shared VM.
	b.ReportMetric(idle, "idle-%")
	b.ReportMetric(steal, "steal-%")
	b.ReportMetric(float64(peakRSS)/1024, "daemon-peak-rss-MB")
}

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
