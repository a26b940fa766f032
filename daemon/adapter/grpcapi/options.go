package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"runtime"
	"strings"

	"google.golang.org/grpc"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
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

// lentMethods are the calls a forwarding socket answers: tokens, and the
// lists and status of NewScoped's view. Anything else, including calls a
// later version adds, is refused: the list fails closed.
var lentMethods = map[string]bool{
	agentgrpc.AgentService_GetToken_FullMethodName:       true,
	agentgrpc.AgentService_ListProfiles_FullMethodName:   true,
	agentgrpc.AgentService_Status_FullMethodName:         true,
	agentgrpc.AgentService_ReportRejected_FullMethodName: true,
}

// ForwardOptions are the options of a forwarding socket's server (label):
// the peer check for uids, then the allow-list, then the same transport
// settings and error statuses as the main socket's.
func ForwardOptions(label string, uids []int, log *slog.Logger, count func()) []grpc.ServerOption {
	lent := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		count()
		if !lentMethods[info.FullMethod] {
			what := strings.ToLower(path.Base(info.FullMethod))
			log.Info("refused through a forward", "label", label, "method", what)
			return nil, withKind(errkind.NotLent, fmt.Errorf("%s is not lent through forward %s: "+
				"this socket lends tokens only; run it on the machine where dbx-credd runs", what, label))
		}
		return handler(ctx, req)
	}
	return []grpc.ServerOption{
		grpc.NumStreamWorkers(1),
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(1 << 20),
		grpc.Creds(peercred.TransportCredentials()),
		grpc.ChainUnaryInterceptor(errorStatus(log), peercred.UnaryInterceptorFor(uids...), lent),
		grpc.ChainStreamInterceptor(peercred.StreamInterceptorFor(uids...)),
	}
}
