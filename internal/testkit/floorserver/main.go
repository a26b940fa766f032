// Command floorserver is a test fixture for bench/: the daemon's gRPC
// service on a Unix socket with a GetToken that answers a constant, served
// by either transport the daemon has (grpc-go's server, as the forwarding
// sockets use it, or daemon/unarygrpc, as the main socket does), with the
// same options. What it costs per call is the transport's floor: what no
// work in the daemon's own code can go below.
//
//	floorserver -transport grpc-go|unarygrpc SOCKET
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"google.golang.org/grpc"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/unarygrpc"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

type constant struct {
	agentgrpc.UnimplementedAgentServiceServer
}

func (constant) GetToken(ctx context.Context, r *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	return &pb.GetTokenResponse{AccessToken: "dapi-floor-0123456789abcdef0123456789"}, nil
}

func main() {
	transport := flag.String("transport", "unarygrpc", "grpc-go or unarygrpc")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: floorserver -transport grpc-go|unarygrpc SOCKET")
		os.Exit(64)
	}
	// dbx-credd's GOGC (cmd/dbx-credd), so the figures compare.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ln, err := net.Listen("unix", flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	auth := peercred.UnaryInterceptorFor(os.Getuid())
	var serve func(net.Listener) error
	switch *transport {
	case "grpc-go":
		g := grpc.NewServer(grpc.NumStreamWorkers(uint32(runtime.NumCPU())),
			grpc.InitialWindowSize(1<<20), grpc.InitialConnWindowSize(1<<20),
			grpc.Creds(peercred.TransportCredentials()), grpc.UnaryInterceptor(auth))
		agentgrpc.RegisterAgentServiceServer(g, constant{})
		serve = g.Serve
	case "unarygrpc":
		s := unarygrpc.New(&agentgrpc.AgentService_ServiceDesc, constant{}, unarygrpc.Options{
			Handshake: peercred.Identify, Interceptor: auth, Log: slog.New(slog.DiscardHandler)})
		serve = s.Serve
	default:
		fmt.Fprintf(os.Stderr, "floorserver: unknown transport %q: grpc-go or unarygrpc\n", *transport)
		os.Exit(64)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		ln.Close()
	}()
	serve(ln)
}
