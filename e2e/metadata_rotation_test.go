package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// TestMetadataSDKClientSurvivesTokenRotation keeps ONE real Go SDK client
// (auth type metadata-service) alive across several renewals of 10 s
// tokens: it must keep working without being rebuilt, because it re-asks
// the daemon as its token nears expiry.
func TestMetadataSDKClientSurvivesTokenRotation(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--token-lifetime", "10s", "--host", w.srv.URL)
	isolateSDK(t)
	url := w.mustHelper("", "metadata-url", "-p", "prod")
	ws, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host:                w.srv.URL,
		AuthType:            "metadata-service",
		MetadataServiceURL:  url[:len(url)-1],
		RetryTimeoutSeconds: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for end := time.Now().Add(22 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		me, err := ws.CurrentUser.Me(ctx, iam.MeRequest{})
		if err != nil || me.UserName != w.user {
			t.Fatalf("CurrentUser.Me with a long-lived SDK client: %v", err)
		}
	}
	audit, err := w.agent().Audit(ctx, &pb.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	expiries := map[int64]bool{}
	for _, ev := range audit.GetEvents() {
		if ev.GetChannel() == pb.Channel_CHANNEL_METADATA {
			expiries[ev.GetTokenExpiry().GetSeconds()] = true
		}
	}
	if len(expiries) < 2 {
		t.Fatalf("the SDK client saw %d distinct tokens in 22 s of 10 s tokens; it did not cross a rotation", len(expiries))
	}
}
