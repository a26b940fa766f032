package profiles

// The fakes and set-up that many of this package's tests share; each
// test file keeps only what is its own.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type fakeValidator struct{ good string }

func (f fakeValidator) Me(_ context.Context, host, token string) (workspace.User, error) {
	if strings.Contains(host, "unreachable") {
		return workspace.User{}, &workspace.UnreachableError{Host: host, Err: errors.New("connection refused")}
	}
	if token != f.good {
		return workspace.User{}, workspace.ErrRejected
	}
	return workspace.User{UserName: "alice@example.com"}, nil
}

func newManager(t *testing.T, st store.Store) (*Manager, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profiles.json")
	m, err := New(path, st, fakeValidator{good: "dapi-good"}, Rotation{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

func workspaceWith(t *testing.T, user string, opts ...wsemu.Option) (*wsemu.Emulator, string, string) {
	emu := wsemu.New(opts...)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL, emu.AddUser(user)
}

func live(emu *wsemu.Emulator, user string) int {
	n := 0
	for _, ti := range emu.LiveTokens(user) {
		if strings.HasPrefix(ti.Comment, "dbx-cred") {
			n++
		}
	}
	return n
}

// flakyMe fails its first n Me calls as a network error would.
type flakyMe struct {
	*workspace.Client
	fail atomic.Int32
}

func (f *flakyMe) Me(ctx context.Context, host, token string) (workspace.User, error) {
	if f.fail.Add(-1) >= 0 {
		return workspace.User{}, errors.New("dial tcp: connection reset by peer")
	}
	return f.Client.Me(ctx, host, token)
}

// heldMe holds its first Me call until released.
type heldMe struct {
	*workspace.Client
	entered, release chan struct{}
}

func (h *heldMe) Me(ctx context.Context, host, token string) (workspace.User, error) {
	select {
	case <-h.entered:
	default:
		close(h.entered)
		<-h.release
	}
	return h.Client.Me(ctx, host, token)
}
