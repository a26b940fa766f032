package core

import (
	"context"
	"os"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// StoreInfo describes the daemon's store.
type StoreInfo struct {
	Name, Backend     string
	Reachable, Locked bool
	Exists            bool
	Note              string
}

// Stores is the daemon's store, as the operations on it need it
// (daemon/store/manage.Stores). Its errors are written for the user.
type Stores interface {
	Info(ctx context.Context) StoreInfo
	Unlock(ctx context.Context, passphrase string, create bool) (created bool, err error)
	Lock(ctx context.Context) (unloaded int, err error)
	Migrate(ctx context.Context, to, passphrase string) (from string, moved []string, advice string, err error)
	// ProbeWrite writes, reads back and deletes a random item (doctor).
	ProbeWrite(ctx context.Context) error
}

// storeFail: a store operation that failed for a reason nobody classified
// is still the store's problem, so unclassified errors are StoreUnusable.
func (s *Service) storeFail(op string, err error) error {
	kind := errkind.Of(err)
	if kind == errkind.Internal {
		kind = errkind.StoreUnusable
	}
	s.log.Warn("store request refused", "op", op, "kind", kind.String(), "err", err)
	return errkind.Wrap(kind, err)
}

// StoreInfo describes the store now.
func (s *Service) StoreInfo(ctx context.Context) StoreInfo { return s.stores.Info(ctx) }

// Unlock opens the file store (creating it with create). The passphrase is
// never logged: only the error, which never contains it.
func (s *Service) Unlock(ctx context.Context, passphrase string, create bool) (StoreInfo, bool, error) {
	created, err := s.stores.Unlock(ctx, passphrase, create)
	if err != nil {
		return StoreInfo{}, false, s.storeFail("unlock", err)
	}
	return s.stores.Info(ctx), created, nil
}

// Lock forgets the file store's key and every loaded secret.
func (s *Service) Lock(ctx context.Context) (StoreInfo, int, error) {
	n, err := s.stores.Lock(ctx)
	if err != nil {
		return StoreInfo{}, 0, s.storeFail("lock", err)
	}
	if s.metadata != nil {
		// Read back from the store, they work again after the unlock.
		s.metadata.ForgetAll()
	}
	return s.stores.Info(ctx), n, nil
}

// MigrateResult says what a store migration did.
type MigrateResult struct {
	From, To string
	Moved    []string
	Advice   string
}

// Migrate moves every secret to the store named to.
func (s *Service) Migrate(ctx context.Context, to, passphrase string) (MigrateResult, error) {
	from, moved, advice, err := s.stores.Migrate(ctx, to, passphrase)
	if err != nil {
		return MigrateResult{}, s.storeFail("migrate", err)
	}
	return MigrateResult{From: from, To: to, Moved: moved, Advice: advice}, nil
}

// Shutdown ends the daemon once the caller's answer is on its way, and
// returns the pid and socket that are going away. The peer check in front
// of every adapter is what makes it safe.
func (s *Service) Shutdown() (pid int, socket string, err error) {
	if s.shutdown == nil {
		return 0, "", errkind.New(errkind.Disabled, "this dbx-credd cannot be stopped over its socket: stop it the way it was started")
	}
	s.log.Info("shutdown asked over the socket")
	// After the answer is on its way: a graceful stop waits for this call.
	go s.shutdown()
	return os.Getpid(), s.info.Socket, nil
}
