package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// noStores answers the store operations as a daemon whose store is not
// part of the test.
type noStores struct{}

func (noStores) Info(context.Context) core.StoreInfo {
	return core.StoreInfo{Name: "memory", Reachable: true}
}
func (noStores) Unlock(context.Context, string, bool) (bool, error) {
	return false, errors.New("no store in this test")
}
func (noStores) Lock(context.Context) (int, error) { return 0, errors.New("no store in this test") }
func (noStores) Migrate(context.Context, string, string) (string, []string, string, error) {
	return "", nil, "", errors.New("no store in this test")
}

func (noStores) ProbeWrite(context.Context) error { return errors.New("no store in this test") }

// newServer is the AgentService over a core made of m and test parts;
// change adjusts the core's configuration first.
func newServer(tb testing.TB, m *profiles.Manager, log *slog.Logger, change ...func(*core.Config)) *Server {
	tb.Helper()
	cfg := core.Config{Profiles: m, Log: log, Audit: audit.New(0, log), Stores: noStores{}, Getenv: func(string) string { return "" },
		Logins: core.NewLogins(core.OAuthOptions{}, log), CLIKeyring: store.NewMemory()}
	for _, c := range change {
		c(&cfg)
	}
	c, err := core.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return New(c)
}
