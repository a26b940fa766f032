package grpcwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// agent is a grpc-go AgentService whose answers depend on the request, so
// each test can ask for the answer it needs.
type agent struct {
	agentgrpc.UnimplementedAgentServiceServer
	deadline chan time.Duration // what GetToken "slow" saw of the deadline
}

const oddMessage = "no profile «prod» (100% sure)\nrun: dbx-cred list"

func (a *agent) GetToken(ctx context.Context, req *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	switch req.GetProfile() {
	case "missing":
		return nil, status.Error(codes.NotFound, oddMessage)
	case "slow":
		d, ok := ctx.Deadline()
		if !ok {
			a.deadline <- -1
		} else {
			a.deadline <- time.Until(d)
		}
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "empty":
		return &pb.GetTokenResponse{}, nil
	}
	return &pb.GetTokenResponse{AccessToken: "tok-" + req.GetProfile(), TokenType: "Bearer"}, nil
}

// Audit answers with limit events of about 1 KB each: large answers.
func (a *agent) Audit(_ context.Context, req *pb.AuditRequest) (*pb.AuditResponse, error) {
	resp := &pb.AuditResponse{}
	for i := range req.GetLimit() {
		resp.Events = append(resp.Events, &pb.AuditEvent{Profile: strings.Repeat("p", 1000), PeerPid: int64(i)})
	}
	return resp, nil
}

func serve(t *testing.T, opts ...grpc.ServerOption) (string, *agent, *grpc.Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{deadline: make(chan time.Duration, 1)}
	g := grpc.NewServer(opts...)
	agentgrpc.RegisterAgentServiceServer(g, a)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	return path, a, g
}

func dial(t *testing.T, path string) *Conn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(nc)
	t.Cleanup(func() { c.Close() })
	return c
}

func method(name string) string {
	return "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/" + name
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCallsOnOneConnection(t *testing.T) {
	path, _, _ := serve(t)
	c := dial(t, path)
	// Sequential calls share the connection and its HPACK state; grpc-go's
	// default flow control sends PINGs this client must answer.
	for i := range 50 {
		var resp lite.GetTokenResponse
		if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &resp); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if resp.GetAccessToken() != "tok-prod" {
			t.Fatalf("call %d: token %q", i, resp.GetAccessToken())
		}
	}
	// An answer with every field at its default is an empty message.
	var resp lite.GetTokenResponse
	if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "empty"}, &resp); err != nil {
		t.Fatalf("empty answer: %v", err)
	}
}

func TestServerStatusArrivesIntact(t *testing.T) {
	path, _, _ := serve(t)
	c := dial(t, path)
	err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "missing"}, &lite.GetTokenResponse{})
	if CodeOf(err) != NotFound || MessageOf(err) != oddMessage {
		t.Fatalf("got %v (code %v, message %q), want NotFound with %q", err, CodeOf(err), MessageOf(err), oddMessage)
	}
	// The connection still serves after a failed call.
	if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &lite.GetTokenResponse{}); err != nil {
		t.Fatalf("call after a NotFound: %v", err)
	}
	err = c.Invoke(ctxFor(t, 5*time.Second), method("NoSuchMethod"), &lite.GetTokenRequest{}, &lite.GetTokenResponse{})
	if CodeOf(err) != Unimplemented {
		t.Fatalf("unknown method: got %v, want Unimplemented", err)
	}
}

func TestLargeAnswers(t *testing.T) {
	path, _, _ := serve(t)
	c := dial(t, path)
	// 3000 events of ~1 KB: many DATA frames, past the 1 MiB window
	// several times, so both windows must be given back.
	for _, n := range []int32{20, 3000, 3000} {
		var resp lite.AuditResponse
		if err := c.Invoke(ctxFor(t, 10*time.Second), method("Audit"), &lite.AuditRequest{Limit: n}, &resp); err != nil {
			t.Fatalf("Audit of %d events: %v", n, err)
		}
		if len(resp.GetEvents()) != int(n) || resp.GetEvents()[n-1].GetPeerPid() != int64(n-1) {
			t.Fatalf("Audit of %d events: got %d", n, len(resp.GetEvents()))
		}
	}
	// Over the 4 MiB cap: refused, not buffered without bound.
	err := c.Invoke(ctxFor(t, 10*time.Second), method("Audit"), &lite.AuditRequest{Limit: 5000}, &lite.AuditResponse{})
	if CodeOf(err) != ResourceExhausted {
		t.Fatalf("Audit over the cap: got %v, want ResourceExhausted", err)
	}
}

func TestDeadlineIsSentAndKept(t *testing.T) {
	path, a, _ := serve(t)
	c := dial(t, path)
	start := time.Now()
	err := c.Invoke(ctxFor(t, 300*time.Millisecond), method("GetToken"), &lite.GetTokenRequest{Profile: "slow"}, &lite.GetTokenResponse{})
	if CodeOf(err) != DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the call returned after %v, long past its 300ms deadline", waited)
	}
	if seen := <-a.deadline; seen <= 0 || seen > 300*time.Millisecond {
		t.Fatalf("the server saw a deadline %v away, want within 300ms (grpc-timeout)", seen)
	}
	// A connection whose call was cut short is not reused.
	if err := c.Invoke(ctxFor(t, time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &lite.GetTokenResponse{}); err == nil {
		t.Fatal("a call on a connection abandoned mid-call succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	path, a, _ := serve(t)
	c := dial(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-a.deadline; cancel() }()
	err := c.Invoke(ctx, method("GetToken"), &lite.GetTokenRequest{Profile: "slow"}, &lite.GetTokenResponse{})
	if CodeOf(err) != Canceled {
		t.Fatalf("got %v, want Canceled", err)
	}
}

func TestServerGoneIsUnavailable(t *testing.T) {
	path, _, g := serve(t)
	c := dial(t, path)
	if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &lite.GetTokenResponse{}); err != nil {
		t.Fatal(err)
	}
	g.Stop()
	err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &lite.GetTokenResponse{})
	if CodeOf(err) != Unavailable {
		t.Fatalf("after the server stopped: got %v, want Unavailable", err)
	}
}

// TestNotGRPC: a peer that is not an HTTP/2 server at all gives a clear
// failure, not a hang or a panic.
func TestNotGRPC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
		conn.Close()
	}()
	c := dial(t, path)
	err = c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "prod"}, &lite.GetTokenResponse{})
	if code := CodeOf(err); code != Internal && code != Unavailable {
		t.Fatalf("got %v, want Internal or Unavailable", err)
	}
}

func TestStatusHelpers(t *testing.T) {
	if CodeOf(nil) != OK || CodeOf(errors.New("x")) != Unknown || CodeOf(context.DeadlineExceeded) != DeadlineExceeded {
		t.Fatal("CodeOf of nil, a plain error or a context error")
	}
	wrapped := errors.Join(errors.New("while x"), &Status{Code: NotFound, Message: "m"})
	if CodeOf(wrapped) != NotFound || MessageOf(wrapped) != "m" {
		t.Fatal("CodeOf/MessageOf of a wrapped *Status")
	}
	// The names are grpc-go's, so messages read the same as before.
	for c := OK; c <= Unauthenticated; c++ {
		if c.String() != codes.Code(c).String() {
			t.Errorf("Code(%d) is %q here and %q in grpc-go", c, c, codes.Code(c))
		}
	}
	for in, want := range map[string]string{
		"plain": "plain", "100%25": "100%", "%C2%ABx%C2%BB": "«x»", "%zz": "%zz", "50%": "50%", "%4": "%4",
	} {
		if got := decodeMessage(in); got != want {
			t.Errorf("decodeMessage(%q) = %q, want %q", in, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		time.Second: "1000000u", 30 * time.Second: "30000000u", 100 * time.Second: "100000m",
		-time.Second: "1n", 1500 * time.Nanosecond: "1500n",
	} {
		if got := encodeTimeout(d); got != want {
			t.Errorf("encodeTimeout(%v) = %q, want %q", d, got, want)
		}
	}
}

// slowFirstRead delays the first read, so that the server below has closed
// the connection before the client reads its SETTINGS and acknowledges them.
type slowFirstRead struct {
	net.Conn
	waited bool
}

func (s *slowFirstRead) Read(p []byte) (int, error) {
	if !s.waited {
		s.waited = true
		time.Sleep(100 * time.Millisecond)
	}
	return s.Conn.Read(p)
}

// TestAnswerBeforeClose: a server that answers and closes at once (as one
// stopping does) gets its answer through, though the client's
// acknowledgement of its SETTINGS then fails; the connection carries no
// further call.
func TestAnswerBeforeClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		var pre [len(http2.ClientPreface)]byte
		if _, err := io.ReadFull(nc, pre[:]); err != nil {
			return
		}
		fr := http2.NewFramer(nc, nc)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		var id uint32
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
				id = d.StreamID
				break
			}
		}
		var out, hb bytes.Buffer
		w, enc := http2.NewFramer(&out, nil), hpack.NewEncoder(&hb)
		w.WriteSettings()
		block := func(fields ...string) []byte {
			hb.Reset()
			for i := 0; i < len(fields); i += 2 {
				enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
			}
			return hb.Bytes()
		}
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, BlockFragment: block(":status", "200", "content-type", "application/grpc")})
		body := (&lite.GetTokenResponse{AccessToken: "dapi-before-close"}).AppendWire(nil)
		w.WriteData(id, false, append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...))
		w.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true, BlockFragment: block("grpc-status", "0")})
		nc.Write(out.Bytes())
	}()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := NewConn(&slowFirstRead{Conn: nc})
	defer c.Close()
	resp := new(lite.GetTokenResponse)
	if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "p"}, resp); err != nil || resp.AccessToken != "dapi-before-close" {
		t.Fatalf("Invoke = %q, %v; want the answer sent before the close", resp.AccessToken, err)
	}
	if err := c.Invoke(ctxFor(t, 5*time.Second), method("GetToken"), &lite.GetTokenRequest{Profile: "p"}, resp); CodeOf(err) != Unavailable {
		t.Fatalf("a second call on the closed connection: %v, want Unavailable", err)
	}
}
