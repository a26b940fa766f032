package unarygrpc

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// fake answers a few methods of the daemon's service the way the tests
// need: echoes, metadata, large answers, and calls that wait.
type fake struct {
	agentgrpc.UnimplementedAgentServiceServer
	waiting  chan struct{}      // AwaitOAuthLogin: told when a call waits
	deadline chan time.Duration // AwaitOAuthLogin: its deadline, from now (-1: none)
	release  chan struct{}      // AwaitOAuthLogin: answers when closed
	canceled chan error         // AwaitOAuthLogin: the context's error, if it ended first
}

func newFake() *fake {
	return &fake{waiting: make(chan struct{}, 16), deadline: make(chan time.Duration, 16), release: make(chan struct{}), canceled: make(chan error, 16)}
}

// GetToken echoes the profile, the x-echo metadata and the peer's uid.
func (f *fake) GetToken(ctx context.Context, r *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	ai, _ := peercred.FromContext(ctx)
	return &pb.GetTokenResponse{AccessToken: r.GetProfile() + "|" + strings.Join(md.Get("x-echo"), ",") + "|" + itoa(ai.UID)}, nil
}

// Status sets a header and a trailer, and fails with details when asked.
func (f *fake) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	grpc.SetHeader(ctx, metadata.Pairs("x-head", "h"))
	grpc.SetTrailer(ctx, metadata.Pairs("x-tail", "t", "x-raw-bin", "\x00\xff"))
	return &pb.StatusResponse{Version: "v-test"}, nil
}

// Logout fails with a status that has details and a message that needs
// percent-encoding.
func (f *fake) Logout(ctx context.Context, r *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	grpc.SetTrailer(ctx, metadata.Pairs(errkind.Trailer, errkind.NotFound.String()))
	st, _ := status.New(codes.NotFound, "no profile «"+r.GetProfile()+"» 100%\nhere").
		WithDetails(&errdetails.ErrorInfo{Reason: "NOPE"})
	return nil, st.Err()
}

// Audit answers with n events of a 1 KB profile name each.
func (f *fake) Audit(ctx context.Context, r *pb.AuditRequest) (*pb.AuditResponse, error) {
	out := &pb.AuditResponse{}
	for range r.GetLimit() {
		out.Events = append(out.Events, &pb.AuditEvent{Profile: strings.Repeat("p", 1024)})
	}
	return out, nil
}

// Login answers with the length of the token it was sent.
func (f *fake) Login(ctx context.Context, r *pb.LoginRequest) (*pb.LoginResponse, error) {
	return &pb.LoginResponse{AdoptMessage: itoa(len(r.GetToken()))}, nil
}

// Rotate sets header metadata, then fails.
func (f *fake) Rotate(ctx context.Context, r *pb.RotateRequest) (*pb.RotateResponse, error) {
	grpc.SetHeader(ctx, metadata.Pairs("x-head", "before-failure"))
	return nil, status.Error(codes.FailedPrecondition, "cannot rotate")
}

// AwaitOAuthLogin waits for release or for its context.
func (f *fake) AwaitOAuthLogin(ctx context.Context, r *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	left := time.Duration(-1)
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	f.deadline <- left
	f.waiting <- struct{}{}
	select {
	case <-f.release:
		return &pb.AwaitOAuthLoginResponse{}, nil
	case <-ctx.Done():
		f.canceled <- ctx.Err()
		return nil, ctx.Err()
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// serveFake serves f on a Unix socket until the test ends.
// configure, when given, changes the server before it serves.
func serveFake(t testing.TB, f *fake, configure ...func(*Server)) (*Server, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&agentgrpc.AgentService_ServiceDesc, f, Options{Handshake: peercred.Identify})
	for _, c := range configure {
		c(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-served; !errors.Is(err, ErrServerStopped) {
			t.Errorf("Serve returned %v, want ErrServerStopped", err)
		}
	})
	return s, sock
}

func grpcGoClient(t testing.TB, sock string) agentgrpc.AgentServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return agentgrpc.NewAgentServiceClient(conn)
}

func withTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestGRPCGoClient holds the transport to grpc-go's client: answers,
// metadata both ways, the peer, statuses with details and escaped
// messages, unknown methods, and messages larger than either side's
// window.
func TestGRPCGoClient(t *testing.T) {
	_, sock := serveFake(t, newFake())
	c := grpcGoClient(t, sock)
	ctx := withTimeout(t)

	out, err := c.GetToken(metadata.AppendToOutgoingContext(ctx, "x-echo", "a", "x-echo", "b"), &pb.GetTokenRequest{Profile: "prod"})
	if want := "prod|a,b|" + itoa(os.Getuid()); err != nil || out.GetAccessToken() != want {
		t.Fatalf("GetToken = %q, %v; want %q", out.GetAccessToken(), err, want)
	}

	var header, trailer metadata.MD
	st, err := c.Status(ctx, &pb.StatusRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil || st.GetVersion() != "v-test" {
		t.Fatalf("Status = %v, %v", st, err)
	}
	if header.Get("x-head")[0] != "h" || trailer.Get("x-tail")[0] != "t" || trailer.Get("x-raw-bin")[0] != "\x00\xff" {
		t.Errorf("header %v, trailer %v: want x-head, x-tail and x-raw-bin as set", header, trailer)
	}

	_, err = c.Logout(ctx, &pb.LogoutRequest{Profile: "ghost"}, grpc.Trailer(&trailer))
	got := status.Convert(err)
	if got.Code() != codes.NotFound || got.Message() != "no profile «ghost» 100%\nhere" {
		t.Errorf("Logout: %v, want NotFound with the message intact", err)
	}
	if d := got.Details(); len(d) != 1 || d[0].(*errdetails.ErrorInfo).GetReason() != "NOPE" {
		t.Errorf("Logout details %v, want the ErrorInfo", d)
	}
	if trailer.Get(errkind.Trailer)[0] != errkind.NotFound.String() {
		t.Errorf("Logout trailer %v, want the kind", trailer)
	}

	// 300 KB out, more than grpc-go's 64 KB initial window: flow control.
	audit, err := c.Audit(ctx, &pb.AuditRequest{Limit: 300})
	if err != nil || len(audit.GetEvents()) != 300 {
		t.Fatalf("Audit: %d events, %v; want 300", len(audit.GetEvents()), err)
	}
	// 3 MB in, more than the server's 1 MiB windows.
	login, err := c.Login(ctx, &pb.LoginRequest{Token: strings.Repeat("x", 3<<20)})
	if err != nil || login.GetAdoptMessage() != itoa(3<<20) {
		t.Fatalf("Login with a 3 MB request = %v, %v", login, err)
	}
	// Over grpc-go's 4 MiB limit: refused, and the connection still serves.
	_, err = c.Login(ctx, &pb.LoginRequest{Token: strings.Repeat("x", 5<<20)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Login with a 5 MB request: %v, want ResourceExhausted", err)
	}

	conn, _ := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	for _, m := range []string{"/dbxcred.v1.AgentService/Nope", "/no.Such/Method"} {
		err := conn.Invoke(ctx, m, &pb.StatusRequest{}, &pb.StatusResponse{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", m, err)
		}
	}
	if _, err := c.GetToken(ctx, &pb.GetTokenRequest{Profile: "still"}); err != nil {
		t.Errorf("after the failures the connection does not serve: %v", err)
	}
}

// TestManyCallsOnOneConnection: more calls at once than the connection's
// stream limit, from one grpc-go connection (which queues beyond it).
func TestManyCallsOnOneConnection(t *testing.T) {
	_, sock := serveFake(t, newFake())
	c := grpcGoClient(t, sock)
	ctx := withTimeout(t)
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for i := range 300 {
		wg.Go(func() {
			want := "p" + itoa(i)
			out, err := c.GetToken(ctx, &pb.GetTokenRequest{Profile: want})
			if err == nil && !strings.HasPrefix(out.GetAccessToken(), want+"|") {
				err = errors.New("answer " + out.GetAccessToken() + " to " + want)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestHelperClient holds it to the helper's own client: an answer, and a
// failure with its kind.
func TestHelperClient(t *testing.T) {
	_, sock := serveFake(t, newFake())
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c := grpcwire.NewConn(nc)
	defer c.Close()
	ctx := withTimeout(t)
	resp := new(lite.GetTokenResponse)
	if err := c.Invoke(ctx, "/dbxcred.v1.AgentService/GetToken", &lite.GetTokenRequest{Profile: "dev"}, resp); err != nil || !strings.HasPrefix(resp.AccessToken, "dev|") {
		t.Fatalf("GetToken = %q, %v", resp.AccessToken, err)
	}
	err = c.Invoke(ctx, "/dbxcred.v1.AgentService/Logout", &lite.LogoutRequest{Profile: "x"}, new(lite.LogoutResponse))
	var st *grpcwire.Status
	if !errors.As(err, &st) || st.Code != grpcwire.NotFound || st.Kind != errkind.NotFound || !st.KindSent {
		t.Fatalf("Logout: %#v, want NotFound with its kind sent", err)
	}
	if err := c.Invoke(ctx, "/dbxcred.v1.AgentService/GetToken", &lite.GetTokenRequest{Profile: "again"}, resp); err != nil {
		t.Fatalf("a second call on the connection: %v", err)
	}
}

// TestDeadlineAndCancel: the handler's context carries the caller's
// deadline, and ends when the caller cancels.
func TestDeadlineAndCancel(t *testing.T) {
	f := newFake()
	_, sock := serveFake(t, f)
	c := grpcGoClient(t, sock)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("past the deadline: %v, want DeadlineExceeded", err)
	}
	// The handler's context carries the deadline; it ends by it, or by
	// the client's reset when the client's copy runs out first.
	if left := <-f.deadline; left <= 0 || left > 300*time.Millisecond {
		t.Errorf("the handler's deadline was %v away, want at most the caller's 300ms", left)
	}
	if got := <-f.canceled; !errors.Is(got, context.DeadlineExceeded) && !errors.Is(got, context.Canceled) {
		t.Errorf("the handler saw %v, want its context ended", got)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-f.waiting; cancel() }()
	<-f.waiting // the first call's
	_, err = c.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{})
	if status.Code(err) != codes.Canceled {
		t.Errorf("canceled: %v, want Canceled", err)
	}
	select {
	case got := <-f.canceled:
		if !errors.Is(got, context.Canceled) {
			t.Errorf("the handler saw %v, want Canceled", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("the handler's context did not end when the caller canceled")
	}
}

// waitingCall serves a fake and returns once a grpc-go client's
// AwaitOAuthLogin waits in its handler; answered gets the call's error.
func waitingCall(t *testing.T) (f *fake, s *Server, sock string, answered chan error) {
	f = newFake()
	s, sock = serveFake(t, f)
	c := grpcGoClient(t, sock)
	ctx := withTimeout(t)
	answered = make(chan error, 1)
	go func() {
		_, err := c.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{})
		answered <- err
	}()
	<-f.waiting
	return f, s, sock, answered
}

// TestGracefulStop: calls in progress are answered, new connections are
// refused, and GracefulStop returns once they are done.
func TestGracefulStop(t *testing.T) {
	f, s, sock, answered := waitingCall(t)
	stopped := make(chan struct{})
	go func() { s.GracefulStop(); close(stopped) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-stopped:
		t.Fatal("GracefulStop returned with a call in progress")
	default:
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Error("a new connection was accepted while stopping")
	}
	close(f.release)
	if err := <-answered; err != nil {
		t.Errorf("the call in progress: %v, want its answer", err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("GracefulStop did not return after the last call")
	}
}

// TestStop: the calls in progress see their contexts end.
func TestStop(t *testing.T) {
	f, s, _, answered := waitingCall(t)
	s.Stop()
	if got := <-f.canceled; !errors.Is(got, context.Canceled) {
		t.Errorf("the handler saw %v, want Canceled", got)
	}
	if err := <-answered; status.Code(err) != codes.Unavailable {
		t.Errorf("the caller got %v, want Unavailable", err)
	}
}

// TestHandshakeRefusal: a connection the handshake refuses is closed
// before any of it is read.
func TestHandshakeRefusal(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&agentgrpc.AgentService_ServiceDesc, newFake(), Options{Handshake: func(net.Conn) (credentials.AuthInfo, error) {
		return nil, errors.New("not you")
	}})
	go s.Serve(ln)
	defer s.Stop()
	c := grpcGoClient(t, sock)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := c.GetToken(ctx, &pb.GetTokenRequest{}); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("refused connection: %v, want Unavailable", err)
	}
}

// stopper's Shutdown stops the server gracefully as it answers, as
// dbx-credd's does.
type stopper struct {
	*fake
	s *Server
}

func (st *stopper) Shutdown(context.Context, *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	go st.s.GracefulStop()
	return &pb.ShutdownResponse{Pid: 7}, nil
}

// TestAnsweredWhileStopping: a call that stops the server still gets its
// answer through the helper's client, which acknowledges the server's
// SETTINGS as it reads the answer (a connection closed in full under it
// failed one call in a few hundred). Repeated: it was a race.
func TestAnsweredWhileStopping(t *testing.T) {
	for range 200 {
		st := &stopper{fake: newFake()}
		sock := filepath.Join(t.TempDir(), "s")
		ln, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		st.s = New(&agentgrpc.AgentService_ServiceDesc, st, Options{Handshake: peercred.Identify})
		go st.s.Serve(ln)
		nc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c := grpcwire.NewConn(nc)
		resp := new(lite.ShutdownResponse)
		err = c.Invoke(withTimeout(t), "/dbxcred.v1.AgentService/Shutdown", &lite.ShutdownRequest{}, resp)
		c.Close()
		if err != nil || resp.Pid != 7 {
			t.Fatalf("Shutdown = %d, %v; want its answer", resp.Pid, err)
		}
		st.s.GracefulStop()
	}
}

// flakyListener fails its first Accept as a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failed bool
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptOutOfFiles: an Accept that fails for want of file descriptors
// is retried, not the end of serving.
func TestAcceptOutOfFiles(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&agentgrpc.AgentService_ServiceDesc, newFake(), Options{Handshake: peercred.Identify})
	served := make(chan error, 1)
	go func() { served <- s.Serve(&flakyListener{Listener: ln}) }()
	defer s.Stop()
	if _, err := grpcGoClient(t, sock).GetToken(withTimeout(t), &pb.GetTokenRequest{Profile: "p"}); err != nil {
		t.Fatalf("after EMFILE: %v", err)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v after EMFILE", err)
	default:
	}
}

// TestLargeAnswerAfterIdle: an answer larger than the write buffer, on a
// connection idle for longer than the write timeout, goes out (the
// deadline is set before the frames are written, not only before the
// flush).
func TestLargeAnswerAfterIdle(t *testing.T) {
	_, sock := serveFake(t, newFake(), func(s *Server) { s.writeTimeout = 100 * time.Millisecond })
	c := grpcGoClient(t, sock)
	ctx := withTimeout(t)
	if _, err := c.Audit(ctx, &pb.AuditRequest{Limit: 1}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	audit, err := c.Audit(ctx, &pb.AuditRequest{Limit: 100})
	if err != nil || len(audit.GetEvents()) != 100 {
		t.Fatalf("a 100 KB answer after the connection was idle: %d events, %v", len(audit.GetEvents()), err)
	}
}

// TestHeaderBeforeFailure: header metadata a handler set before failing
// arrives as headers, not among the trailers, as grpc-go sends it.
func TestHeaderBeforeFailure(t *testing.T) {
	_, sock := serveFake(t, newFake())
	var header, trailer metadata.MD
	_, err := grpcGoClient(t, sock).Rotate(withTimeout(t), &pb.RotateRequest{}, grpc.Header(&header), grpc.Trailer(&trailer))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Rotate: %v, want FailedPrecondition", err)
	}
	if got := header.Get("x-head"); len(got) != 1 || got[0] != "before-failure" || len(trailer.Get("x-head")) != 0 {
		t.Errorf("header %v, trailer %v: want x-head among the headers only", header, trailer)
	}
}
