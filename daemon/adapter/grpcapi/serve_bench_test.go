package grpcapi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

type okValidator struct{}

func (okValidator) Me(context.Context, string, string) (workspace.User, error) {
	return workspace.User{UserName: "bench@example.com"}, nil
}

// BenchmarkServeGetToken measures the daemon's serving path in process (peer
// check, manager, audit, gRPC on a Unix socket, with the daemon's server
// options) so it can be profiled with -cpuprofile; bench/ measures the real
// binaries end to end.
func BenchmarkServeGetToken(b *testing.B) {
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := profiles.New(filepath.Join(dir, "p.json"), store.NewMemory(), okValidator{}, profiles.Rotation{}, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := m.Login(context.Background(), "bench", "https://ws.example.com", "dapi-bench", profiles.LoginOptions{Static: true}); err != nil {
		b.Fatal(err)
	}
	sock := serveOnSocket(b, dir, m, log)

	// The helper's own client (grpcwire), not grpc-go's: its cost per call
	// is a fraction of grpc-go's, so the profile is mostly the server's.
	const conns = 64
	method := "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/GetToken"
	req := &lite.GetTokenRequest{Profile: "bench"}
	ctx := context.Background()
	clients := make([]*grpcwire.Conn, conns)
	for i := range clients {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			b.Fatal(err)
		}
		c := grpcwire.NewConn(nc)
		defer c.Close()
		clients[i] = c
		if err := c.Invoke(ctx, method, req, new(lite.GetTokenResponse)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/conns + 1
	for _, c := range clients {
		wg.Go(func() {
			for range per {
				if err := c.Invoke(ctx, method, req, new(lite.GetTokenResponse)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*conns)/b.Elapsed().Seconds(), "calls/s")
}

// serveOnSocket serves m's AgentService in dir with the daemon's server
// options (peer check, error kinds), until the test ends, and returns the
// socket's path.
func serveOnSocket(tb testing.TB, dir string, m *profiles.Manager, log *slog.Logger) string {
	tb.Helper()
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		tb.Fatal(err)
	}
	g := NewSocketServer(newServer(tb, m, log), os.Getuid(), log)
	go g.Serve(ln)
	tb.Cleanup(g.Stop)
	return sock
}
