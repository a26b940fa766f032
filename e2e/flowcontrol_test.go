package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// recording keeps a copy of everything read from the connection.
type recording struct {
	net.Conn
	got bytes.Buffer
}

func (r *recording) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.got.Write(p[:n])
	return n, err
}

// TestNoPingPerCall holds the daemon to fixed HTTP/2 flow-control windows.
// With grpc-go's default (BDP estimation) the server sends a PING and a
// WINDOW_UPDATE for nearly every small call, and reads the PING's ack: on
// 64 busy connections that cost about a fifth of the daemon's CPU per
// GetToken (bench/README.md).
func TestNoPingPerCall(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")

	nc, err := net.Dial("unix", w.socket())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{Conn: nc}
	c := grpcwire.NewConn(rec)
	defer c.Close()
	method := "/" + agentgrpc.AgentService_ServiceDesc.ServiceName + "/GetToken"
	const calls = 100
	for i := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var resp lite.GetTokenResponse
		err := c.Invoke(ctx, method, &lite.GetTokenRequest{Profile: "prod"}, &resp)
		cancel()
		if err != nil {
			t.Fatalf("GetToken %d: %v", i, err)
		}
		if resp.GetAccessToken() == "" {
			t.Fatalf("GetToken %d: no token", i)
		}
	}

	// What the daemon sent, frame by frame.
	fr := http2.NewFramer(io.Discard, &rec.got)
	pings, updates := 0, 0
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("parse what the daemon sent: %v", err)
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if !f.IsAck() {
				pings++
			}
		case *http2.WindowUpdateFrame:
			updates++
		}
	}
	if pings > 0 || updates > 2 {
		t.Fatalf("over %d GetToken calls the daemon sent %d PINGs and %d WINDOW_UPDATEs; want none and at most 2 "+
			"(grpc.InitialWindowSize and InitialConnWindowSize turn BDP estimation off)", calls, pings, updates)
	}
}
