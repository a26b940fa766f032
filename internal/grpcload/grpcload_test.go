package grpcload

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const check = "/grpc.health.v1.Health/Check"

// serve runs a real grpc-go server with the health service on a fresh Unix
// socket and returns the socket's path.
func serve(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(g, health.NewServer())
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return path
}

func TestCallsAnswerAndDecode(t *testing.T) {
	c, err := Dial(serve(t), check, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Past the first call, requests are sent as HPACK table references:
	// a server that could not decode them would fail the later calls.
	for i := range 200 {
		var resp healthpb.HealthCheckResponse
		if err := c.Call(&resp); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("call %d: status %v, want SERVING", i, resp.GetStatus())
		}
	}
}

func TestErrorStatusIsAnError(t *testing.T) {
	c, err := Dial(serve(t), "/grpc.health.v1.Health/NoSuchMethod", &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Call(&healthpb.HealthCheckResponse{})
	if err == nil || !strings.Contains(err.Error(), `grpc-status "12"`) {
		t.Fatalf("call of an unknown method: got %v, want grpc-status 12 (Unimplemented)", err)
	}
}

// TestCountsServerPings shows what the counter is for: grpc-go's default
// flow control (BDP estimation) sends a PING for nearly every small call,
// and fixed windows turn it off.
func TestCountsServerPings(t *testing.T) {
	const calls = 100
	for _, tc := range []struct {
		name      string
		opts      []grpc.ServerOption
		fewerThan int
		atLeast   int
	}{
		{name: "default windows", atLeast: calls / 2, fewerThan: calls + 1},
		{name: "fixed windows", opts: []grpc.ServerOption{grpc.InitialWindowSize(1 << 20), grpc.InitialConnWindowSize(1 << 20)}, fewerThan: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Dial(serve(t, tc.opts...), check, &healthpb.HealthCheckRequest{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for range calls {
				if err := c.Call(&healthpb.HealthCheckResponse{}); err != nil {
					t.Fatal(err)
				}
			}
			if c.Pings < tc.atLeast || c.Pings >= tc.fewerThan {
				t.Fatalf("%d PINGs over %d calls, want at least %d and fewer than %d", c.Pings, calls, tc.atLeast, tc.fewerThan)
			}
		})
	}
}
