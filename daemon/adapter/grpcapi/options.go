package grpcapi

import (
	"log/slog"
	"runtime"

	"google.golang.org/grpc"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
)

// GRPCOptions are the options of the daemon's gRPC server on its socket:
// the peer check for uid before any handler, refusals logged, and the
// transport settings the throughput benchmark (bench/) was measured with.
func GRPCOptions(uid int, log *slog.Logger) []grpc.ServerOption {
	return []grpc.ServerOption{
		// A fixed pool of stream workers instead of a goroutine per call:
		// fresh goroutines grow their stacks on every request (measured with
		// BenchmarkServeGetToken).
		grpc.NumStreamWorkers(uint32(runtime.NumCPU())),
		// Fixed windows turn off BDP estimation, which otherwise sends a
		// PING and a WINDOW_UPDATE with nearly every small call and reads
		// the ack: about a fifth of the CPU a GetToken costs (bench/README.md,
		// e2e TestNoPingPerCall). Answers are a few hundred bytes; a window
		// bounds what a peer may send unread, not what is allocated.
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(1 << 20),
		grpc.Creds(peercred.TransportCredentials()),
		grpc.ChainUnaryInterceptor(errorStatus(log), peercred.UnaryInterceptor(uid)),
		grpc.ChainStreamInterceptor(peercred.StreamInterceptor(uid)),
	}
}
