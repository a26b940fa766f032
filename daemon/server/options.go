package server

import (
	"context"
	"log/slog"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
		grpc.ChainUnaryInterceptor(errorStatus(), logRefusals(log), peercred.UnaryInterceptor(uid)),
		grpc.ChainStreamInterceptor(peercred.StreamInterceptor(uid)),
	}
}

// logRefusals records peers refused by the uid check: a stranger on the
// socket is a security event the user should be able to find in the log.
func logRefusals(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if status.Code(err) == codes.PermissionDenied {
			p, _ := peercred.FromContext(ctx)
			log.Warn("refused a connection from another user", "method", info.FullMethod, "peer_uid", p.UID, "peer_pid", p.PID)
		}
		return resp, err
	}
}
