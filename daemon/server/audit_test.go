package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

func TestServedIsAuditedAndShown(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s := (&Server{log: log}).WithAudit(audit.New(10, log))
	ctx := peer.NewContext(context.Background(), &peer.Peer{
		AuthInfo: peercred.AuthInfo{UID: os.Getuid(), PID: os.Getpid(), Known: true}})
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := profiles.Token{Value: "dapi-secret", Expiry: exp, Profile: profiles.Profile{Profile: registry.Profile{Name: "prod"}}}
	s.served(ctx, pb.Channel_CHANNEL_UNSPECIFIED, tok, pb.TokenKind_TOKEN_KIND_PAT)
	s.served(ctx, pb.Channel_CHANNEL_GIT, profiles.Token{Profile: tok.Profile}, pb.TokenKind_TOKEN_KIND_DERIVED_PAT)

	resp, err := s.Audit(context.Background(), &pb.AuditRequest{})
	if err != nil || len(resp.GetEvents()) != 2 {
		t.Fatalf("Audit = %v, %v", resp, err)
	}
	first, second := resp.GetEvents()[0], resp.GetEvents()[1]
	self, _ := os.Executable()
	if first.GetProfile() != "prod" || first.GetChannel() != pb.Channel_CHANNEL_TOKEN || first.GetKind() != pb.TokenKind_TOKEN_KIND_PAT ||
		first.GetPeerUid() != int64(os.Getuid()) || first.GetPeerPid() != int64(os.Getpid()) ||
		!first.GetTokenExpiry().AsTime().Equal(exp) || (first.GetPeerExe() != self && first.GetPeerExe() != "") {
		t.Fatalf("first event: %v", first)
	}
	if second.GetChannel() != pb.Channel_CHANNEL_GIT || second.GetKind() != pb.TokenKind_TOKEN_KIND_DERIVED_PAT || second.GetTokenExpiry() != nil {
		t.Fatalf("second event: %v", second)
	}
	if resp, _ := s.Audit(context.Background(), &pb.AuditRequest{Limit: 1}); len(resp.GetEvents()) != 1 || resp.GetEvents()[0].GetChannel() != pb.Channel_CHANNEL_GIT {
		t.Fatalf("limit 1 should give the newest: %v", resp)
	}
	if strings.Contains(logs.String(), "dapi-secret") || !strings.Contains(logs.String(), "token served") {
		t.Fatalf("log: %s", logs.String())
	}
}

// Every channel and kind survives the trip through the audit log's words.
func TestEnumWordsRoundTrip(t *testing.T) {
	for v, name := range pb.Channel_name {
		if got := pb.Channel_value[enumName("CHANNEL_", enumWord(name, "CHANNEL_"))]; got != v {
			t.Errorf("%s came back as %d", name, got)
		}
	}
	for v, name := range pb.TokenKind_name {
		if got := pb.TokenKind_value[enumName("TOKEN_KIND_", enumWord(name, "TOKEN_KIND_"))]; got != v {
			t.Errorf("%s came back as %d", name, got)
		}
	}
}

func TestMetadataOff(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	_, err := s.MetadataURL(context.Background(), &pb.MetadataURLRequest{Profile: "prod"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--metadata-listen") {
		t.Fatalf("MetadataURL with the service off: %v", err)
	}
	if _, err := (&Server{}).Audit(context.Background(), &pb.AuditRequest{}); err != nil {
		t.Fatalf("Audit without a log: %v", err)
	}
}
