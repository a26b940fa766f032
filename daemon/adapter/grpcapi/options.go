package grpcapi

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"google.golang.org/grpc"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/unarygrpc"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// NewSocketServer is the daemon's server on its own socket: the peer of
// every connection read from the kernel, calls from any uid but uid
// refused before a handler runs (and logged), errors sent with their kinds.
// It is daemon/unarygrpc, not grpc-go's server: on the warm path grpc-go's
// transport cost about twice the daemon's whole GetToken (bench/README.md).
// Forwarding sockets, which other hosts and uids reach, stay on grpc-go
// (ForwardOptions).
func NewSocketServer(s *Server, uid int, log *slog.Logger) *unarygrpc.Server {
	return unarygrpc.New(&agentgrpc.AgentService_ServiceDesc, s, unarygrpc.Options{
		Handshake:   peercred.Identify,
		Interceptor: socketInterceptor(uid, log),
		Log:         log,
	})
}

// socketInterceptor is errorStatus around peercred's check for uid, as one
// interceptor: each link of a chain costs every call.
func socketInterceptor(uid int, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := peercred.Authorize(ctx, uid); err != nil {
			return nil, failed(ctx, log, info, err)
		}
		resp, err := handler(ctx, req)
		if err != nil {
			return resp, failed(ctx, log, info, err)
		}
		return resp, nil
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

// ForwardOptions are the options of a forwarding socket's grpc-go server
// (label): the peer check for uids, then the allow-list, and the main
// socket's error statuses. Fixed windows turn off grpc-go's BDP
// estimation, which otherwise sends a PING and a WINDOW_UPDATE with nearly
// every small call (e2e TestNoPingPerCall measured it on the main socket
// when that was grpc-go's too).
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
