package grpcapi

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// TestFailuresCarryTheirKind: over a real socket with the daemon's server
// options, every failure comes with its kind's code and the kind by name
// in the trailer, which is what the helper's exit code comes from.
func TestFailuresCarryTheirKind(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := profiles.New(filepath.Join(dir, "p.json"), store.NewMemory(), okValidator{}, profiles.Rotation{}, log)
	if err != nil {
		t.Fatal(err)
	}
	sock := serveOnSocket(t, dir, m, log)
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := agentgrpc.NewAgentServiceClient(conn)

	cases := []struct {
		name string
		call func(context.Context, ...grpc.CallOption) error
		code codes.Code
		kind errkind.Kind
	}{
		{"unknown profile", func(ctx context.Context, o ...grpc.CallOption) error {
			_, err := c.GetToken(ctx, &pb.GetTokenRequest{Profile: "nope"}, o...)
			return err
		}, codes.NotFound, errkind.NotFound},
		{"no host", func(ctx context.Context, o ...grpc.CallOption) error {
			_, err := c.Login(ctx, &pb.LoginRequest{Profile: "prod", Token: "dapi-x"}, o...)
			return err
		}, codes.InvalidArgument, errkind.BadInput},
		{"metadata service off", func(ctx context.Context, o ...grpc.CallOption) error {
			_, err := c.MetadataURL(ctx, &pb.MetadataURLRequest{Profile: "nope"}, o...)
			return err
		}, codes.FailedPrecondition, errkind.Disabled},
		{"unknown OAuth login", func(ctx context.Context, o ...grpc.CallOption) error {
			_, err := c.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{LoginId: "nope"}, o...)
			return err
		}, codes.NotFound, errkind.NotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var trailer metadata.MD
			err := tc.call(ctx, grpc.Trailer(&trailer))
			if got := status.Code(err); got != tc.code {
				t.Errorf("code %v, want %v (%v)", got, tc.code, err)
			}
			if got := trailer.Get(errkind.Trailer); len(got) != 1 || got[0] != tc.kind.String() {
				t.Errorf("trailer %s = %q, want %q", errkind.Trailer, got, tc.kind)
			}
		})
	}
}
