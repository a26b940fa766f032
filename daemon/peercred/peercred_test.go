//go:build linux || darwin

package peercred

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// envClient makes TestMain act as a client of the socket it names, so a
// test can run it under another uid and read what it got.
const envClient = "PEERCRED_TEST_CLIENT_SOCKET"

const nobody = 65534

func TestMain(m *testing.M) {
	if sock := os.Getenv(envClient); sock != "" {
		os.Exit(runClient(sock))
	}
	os.Exit(m.Run())
}

// runClient prints one line per call: "<call> <code>: <message>".
func runClient(sock string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	_, err = hc.Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Printf("unary %v: %s\n", status.Code(err), status.Convert(err).Message())
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	fmt.Printf("stream %v: %s\n", status.Code(err), status.Convert(err).Message())
	return 0
}

// startServer serves the health service on dir/agent.sock, guarded by the
// peercred interceptors for our uid. Every call that gets past them is
// sent, with its peer credentials, to the returned channel.
func startServer(t *testing.T, dir string) (sock string, handled <-chan AuthInfo) {
	t.Helper()
	sock = filepath.Join(dir, "agent.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan AuthInfo, 10)
	record := func(ctx context.Context) {
		ai, ok := FromContext(ctx)
		if !ok {
			t.Error("handler: no peercred AuthInfo in context")
		}
		seen <- ai
	}
	srv := grpc.NewServer(
		grpc.Creds(TransportCredentials()),
		grpc.ChainUnaryInterceptor(UnaryInterceptorFor(os.Getuid()),
			func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
				record(ctx)
				return h(ctx, req)
			}),
		grpc.ChainStreamInterceptor(StreamInterceptorFor(os.Getuid()),
			func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
				record(ss.Context())
				return h(srv, ss)
			}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return sock, seen
}

// mkdirTemp makes a directory outside t.TempDir, whose 0700 parent would
// keep another uid out even after we open this one.
func mkdirTemp(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "peercred-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSameUIDServed(t *testing.T) {
	sock, handled := startServer(t, t.TempDir())
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)

	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v; want SERVING", resp, err)
	}
	stream, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch = %v, %v; want SERVING", resp, err)
	}
	want := AuthInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		UID:            os.Getuid(), PID: os.Getpid(), Known: true, Exe: Exe(os.Getpid()),
	}
	for _, call := range []string{"Check", "Watch"} {
		if got := <-handled; got != want {
			t.Errorf("%s handler saw %+v, want %+v", call, got, want)
		}
	}
}

func TestOtherUIDRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another uid")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to run a client as another uid")
	}
	// uid 65534 cannot execute a binary under our 0700 temp directories.
	bin := filepath.Join(mkdirTemp(t, 0o755), "peercred.test")
	copyExecutable(t, bin)

	dir := mkdirTemp(t, 0o700)
	sock, handled := startServer(t, dir)
	// Opened only now and only here: the peer check must hold even when
	// the directory no longer keeps others out.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(setpriv, fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", bin)
	cmd.Env = append(os.Environ(), envClient+"="+sock)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client as uid %d: %v\nstdout: %s", nobody, err, out)
	}
	msg := fmt.Sprintf("dbx-credd serves only uid %d; connection from uid %d refused", os.Getuid(), nobody)
	for _, call := range []string{"unary", "stream"} {
		if want := fmt.Sprintf("%s %v: %s\n", call, codes.PermissionDenied, msg); !strings.Contains(string(out), want) {
			t.Errorf("client output:\n%s\nwant a line %q", out, want)
		}
	}
	select {
	case ai := <-handled:
		t.Errorf("a handler ran for peer %+v", ai)
	default:
	}
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorize(t *testing.T) {
	withInfo := func(ai AuthInfo) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: ai})
	}
	tests := []struct {
		name    string
		ctx     context.Context
		wantMsg string // "" means allowed
	}{
		{"same uid", withInfo(AuthInfo{UID: 1000, Known: true}), ""},
		{"other uid", withInfo(AuthInfo{UID: 1001, Known: true}), "dbx-credd serves only uid 1000; connection from uid 1001 refused"},
		{"root is not us either", withInfo(AuthInfo{UID: 0, Known: true}), "dbx-credd serves only uid 1000; connection from uid 0 refused"},
		{"unknown peer", withInfo(AuthInfo{}), "dbx-credd serves only uid 1000; connection from unknown uid refused"},
		{"no peer", context.Background(), "dbx-credd serves only uid 1000; connection without peer credentials refused"},
		{"other credentials", peer.NewContext(context.Background(), &peer.Peer{AuthInfo: insecureInfo()}),
			"dbx-credd serves only uid 1000; connection without peer credentials refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Authorize(tt.ctx, 1000)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("authorize = %v, want allowed", err)
				}
				return
			}
			if s := status.Convert(err); s.Code() != codes.PermissionDenied || s.Message() != tt.wantMsg {
				t.Fatalf("authorize = %v, want PermissionDenied %q", err, tt.wantMsg)
			}
		})
	}
}

func insecureInfo() credentials.AuthInfo {
	_, ai, _ := insecure.NewCredentials().ServerHandshake(nil)
	return ai
}

func TestHandshakeRefusesNonUnix(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := TransportCredentials().ServerHandshake(a); err == nil {
		t.Fatal("ServerHandshake accepted a non-Unix connection")
	}
}
