package server

import (
	"context"
	"os"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// StoreInfo describes the daemon's store (pb.StoreStatus).
type StoreInfo struct {
	Name, Backend     string
	Reachable, Locked bool
	Exists            bool
	Note              string
}

// Stores is the daemon's store, as the RPCs about it need it. Its errors
// are written for the user; those that are not about a profile become
// FAILED_PRECONDITION (exit 5).
type Stores interface {
	Info(ctx context.Context) StoreInfo
	Unlock(ctx context.Context, passphrase string, create bool) (created bool, err error)
	Lock(ctx context.Context) (unloaded int, err error)
	Migrate(ctx context.Context, to, passphrase string) (from string, moved []string, advice string, err error)
}

// WithStores serves the store RPCs from st; without it they are refused.
func (s *Server) WithStores(st Stores) *Server {
	s.stores = st
	return s
}

// WithShutdown makes Shutdown call stop, which ends the daemon after the
// answer is sent.
func (s *Server) WithShutdown(stop func()) *Server {
	s.shutdown = stop
	return s
}

func storeProto(i StoreInfo) *pb.StoreStatus {
	return &pb.StoreStatus{Name: i.Name, Backend: i.Backend, Reachable: i.Reachable, Locked: i.Locked, Note: i.Note, Exists: i.Exists}
}

// storeFail: a store operation that failed for a reason nobody classified
// is still the store's problem, so unclassified errors are StoreUnusable.
func (s *Server) storeFail(ctx context.Context, op string, err error) error {
	kind := errkind.Of(err)
	if kind == errkind.Internal {
		kind = errkind.StoreUnusable
	}
	s.log.Warn("store request refused", "op", op, "kind", kind.String(), "err", err)
	return withKind(kind, err)
}

func (s *Server) noStores() error {
	return failure(errkind.StoreUnusable, "this dbx-credd cannot change its store: upgrade it, then dbx-cred daemon restart")
}

// Unlock implements AgentService. The passphrase is never logged: only the
// error, which never contains it.
func (s *Server) Unlock(ctx context.Context, req *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	if s.stores == nil {
		return nil, s.noStores()
	}
	created, err := s.stores.Unlock(ctx, req.GetPassphrase(), req.GetCreate())
	if err != nil {
		return nil, s.storeFail(ctx, "unlock", err)
	}
	return &pb.UnlockResponse{Store: storeProto(s.stores.Info(ctx)), Created: created}, nil
}

// Lock implements AgentService.
func (s *Server) Lock(ctx context.Context, _ *pb.LockRequest) (*pb.LockResponse, error) {
	if s.stores == nil {
		return nil, s.noStores()
	}
	n, err := s.stores.Lock(ctx)
	if err != nil {
		return nil, s.storeFail(ctx, "lock", err)
	}
	return &pb.LockResponse{Store: storeProto(s.stores.Info(ctx)), Unloaded: int32(n)}, nil
}

// MigrateStore implements AgentService.
func (s *Server) MigrateStore(ctx context.Context, req *pb.MigrateStoreRequest) (*pb.MigrateStoreResponse, error) {
	if s.stores == nil {
		return nil, s.noStores()
	}
	from, moved, advice, err := s.stores.Migrate(ctx, req.GetTo(), req.GetPassphrase())
	if err != nil {
		return nil, s.storeFail(ctx, "migrate", err)
	}
	return &pb.MigrateStoreResponse{From: from, To: req.GetTo(), Moved: moved, Advice: advice}, nil
}

// Shutdown implements AgentService: the peer check in front of every call
// is what makes it safe; only the daemon's own user gets here.
func (s *Server) Shutdown(ctx context.Context, _ *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	if s.shutdown == nil {
		return nil, failure(errkind.Disabled, "this dbx-credd cannot be stopped over its socket: stop it the way it was started")
	}
	s.log.Info("shutdown asked over the socket")
	// After the answer is on its way: GracefulStop waits for this call.
	go s.shutdown()
	return &pb.ShutdownResponse{Pid: int64(os.Getpid()), Socket: s.info.Socket}, nil
}
