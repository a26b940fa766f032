package e2e

import (
	"testing"

	"github.com/dbx-cred/dbx-cred/internal/grpcload"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// TestNoPingPerCall holds the daemon to fixed HTTP/2 flow-control windows.
// With grpc-go's default (BDP estimation) the server sends a PING and a
// WINDOW_UPDATE for nearly every small call, and reads the PING's ack: on
// 64 busy connections that cost about a fifth of the daemon's CPU per
// GetToken (bench/README.md).
func TestNoPingPerCall(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")

	c, err := grpcload.Dial(w.socket(), "/"+agentgrpc.AgentService_ServiceDesc.ServiceName+"/GetToken", &pb.GetTokenRequest{Profile: "prod"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const calls = 100
	for i := range calls {
		var resp pb.GetTokenResponse
		if err := c.Call(&resp); err != nil {
			t.Fatalf("GetToken %d: %v", i, err)
		}
		if resp.GetAccessToken() == "" {
			t.Fatalf("GetToken %d: no token", i)
		}
	}
	if c.Pings > 0 || c.WindowUpdates > 2 {
		t.Fatalf("over %d GetToken calls the daemon sent %d PINGs and %d WINDOW_UPDATEs; want none and at most 2 "+
			"(grpc.InitialWindowSize and InitialConnWindowSize turn BDP estimation off)", calls, c.Pings, c.WindowUpdates)
	}
}
