package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

type okValidator struct{}

func (okValidator) Me(context.Context, string, string) (workspace.User, error) {
	return workspace.User{UserName: "bench@example.com"}, nil
}

// BenchmarkServeGetToken measures the daemon's serving path in process (peer
// check, manager, audit, gRPC on a Unix socket) so it can be profiled with
// -cpuprofile; bench/ measures the real binaries end to end.
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
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(grpc.NumStreamWorkers(2), grpc.Creds(peercred.TransportCredentials()), grpc.ChainUnaryInterceptor(peercred.UnaryInterceptor(uid())))
	New(m, Info{}, log).WithAudit(audit.New(0, log)).Register(g)
	go g.Serve(ln)
	defer g.Stop()

	const conns = 64
	clients := make([]pb.AgentServiceClient, conns)
	for i := range clients {
		cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		clients[i] = pb.NewAgentServiceClient(cc)
		if _, err := clients[i].GetToken(context.Background(), &pb.GetTokenRequest{Profile: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/conns + 1
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := c.GetToken(context.Background(), &pb.GetTokenRequest{Profile: "bench"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*conns)/b.Elapsed().Seconds(), "calls/s")
}

func uid() int { return os.Getuid() }
