package grpcapi

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// errorStatus is the one place where a daemon error becomes a gRPC status:
// the code is its kind's (internal/errkind), and the kind itself goes in
// the errkind.Trailer, which the helper reads to choose its exit code.
// It must be the outermost interceptor, so that it also sees the statuses
// made below it: peercred's refusals, which it logs, as a stranger on the
// socket is a security event the user should be able to find. (One
// interceptor, not two: each link of the chain costs every call.)
func errorStatus(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err == nil {
			return resp, nil
		}
		return resp, failed(ctx, log, info, err)
	}
}

// failed is a call's error as it goes out: logged if it refused another
// user, and a status with its kind.
func failed(ctx context.Context, log *slog.Logger, info *grpc.UnaryServerInfo, err error) error {
	if status.Code(err) == codes.PermissionDenied && errkind.Of(err) != errkind.NotLent {
		p, _ := peercred.FromContext(ctx)
		log.Warn("refused a connection from another user", "method", info.FullMethod, "peer_uid", p.UID, "peer_pid", p.PID)
	}
	return toStatus(ctx, err)
}

func toStatus(ctx context.Context, err error) error {
	kind := errkind.Of(err)
	out := status.Error(codes.Code(kind.GRPC()), err.Error())
	if st, ok := status.FromError(err); ok && kind == errkind.Internal {
		// Already a status, made below (peercred) or by grpc-go: its code
		// stands, and the kind is the one that code means.
		kind, out = errkind.FromGRPC(uint32(st.Code())), err
	}
	// SetTrailer fails only outside a server call; the status still goes.
	_ = grpc.SetTrailer(ctx, metadata.Pairs(errkind.Trailer, kind.String()))
	return out
}

// kindError is a kinded error as grpc-go sees it: GRPCStatus gives the
// kind's code, so a handler's result means the same called in process (the
// tests) as over the wire.
type kindError struct {
	err  error
	kind errkind.Kind
}

func (e kindError) Error() string         { return e.err.Error() }
func (e kindError) Unwrap() error         { return e.err }
func (e kindError) ErrKind() errkind.Kind { return e.kind }
func (e kindError) GRPCStatus() *status.Status {
	return status.New(codes.Code(e.kind.GRPC()), e.err.Error())
}

// withKind is err of kind k, as a handler returns it.
func withKind(k errkind.Kind, err error) error { return kindError{err: err, kind: k} }
