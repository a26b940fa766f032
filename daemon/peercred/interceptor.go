package peercred

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Authorize refuses, with codes.PermissionDenied, a call whose peer is not
// uid. The daemon's socket calls it from its one interceptor
// (daemon/adapter/grpcapi); forwarding sockets use UnaryInterceptorFor.
func Authorize(ctx context.Context, uid int) error {
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

// UnaryInterceptorFor refuses, with codes.PermissionDenied, every call
// whose peer is not one of uids, before any interceptor after it runs: a
// forwarding socket admits the daemon's uid and may admit one more
// (dbx-cred forward --allow-uid, for a container's root).
func UnaryInterceptorFor(uids ...int) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorizeAny(ctx, uids); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptorFor is UnaryInterceptorFor for streaming calls.
func StreamInterceptorFor(uids ...int) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorizeAny(ss.Context(), uids); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}

func authorizeAny(ctx context.Context, uids []int) error {
	if len(uids) == 0 {
		return status.Error(codes.PermissionDenied, "this socket serves no uid (a wiring bug)")
	}
	var err error
	for _, uid := range uids {
		if err = Authorize(ctx, uid); err == nil {
			return nil
		}
	}
	if len(uids) > 1 {
		ai, _ := FromContext(ctx)
		return status.Errorf(codes.PermissionDenied, "this forwarding socket serves only uids %v; connection from uid %d refused", uids, ai.UID)
	}
	return err
}
