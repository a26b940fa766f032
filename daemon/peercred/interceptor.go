package peercred

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// UnaryInterceptor refuses, with codes.PermissionDenied, every call whose
// peer is not uid. Install it first so no other interceptor runs for a
// stranger.
func UnaryInterceptor(uid int) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, uid); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor is UnaryInterceptor for streaming calls.
func StreamInterceptor(uid int) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), uid); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

func authorize(ctx context.Context, uid int) error {
	ai, ok := FromContext(ctx)
	switch {
	case !ok:
		// A server built without TransportCredentials: fail closed
		// everywhere, this is a bug rather than a platform limit.
		return status.Errorf(codes.PermissionDenied,
			"dbx-credd serves only uid %d; connection without peer credentials refused", uid)
	case !ai.Known && unknownPeerAllowed:
		return nil
	case !ai.Known:
		return status.Errorf(codes.PermissionDenied,
			"dbx-credd serves only uid %d; connection from unknown uid refused", uid)
	case ai.UID != uid:
		return status.Errorf(codes.PermissionDenied,
			"dbx-credd serves only uid %d; connection from uid %d refused", uid, ai.UID)
	}
	return nil
}
