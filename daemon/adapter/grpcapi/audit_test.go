package grpcapi

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// Every channel and kind survives the trip through the audit log's words.
func TestEnumWordsRoundTrip(t *testing.T) {
	e := newEnums()
	for v, name := range pb.Channel_name {
		if got := e.channel.value(e.channel.word(pb.Channel(v))); got != pb.Channel(v) {
			t.Errorf("%s came back as %d", name, got)
		}
	}
	for v, name := range pb.TokenKind_name {
		if got := e.tokenKind.value(e.tokenKind.word(pb.TokenKind(v))); got != pb.TokenKind(v) {
			t.Errorf("%s came back as %d", name, got)
		}
	}
	if w := e.channel.word(pb.Channel_CHANNEL_METADATA); w != "metadata" {
		t.Errorf("CHANNEL_METADATA is %q in the audit log, want metadata", w)
	}
}

func TestMetadataOff(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	m, err := profiles.New(filepath.Join(t.TempDir(), "p.json"), store.NewMemory(), okValidator{}, profiles.Rotation{}, log)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, m, log)
	_, err = s.MetadataURL(context.Background(), &pb.MetadataURLRequest{Profile: "prod"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--metadata-listen") {
		t.Fatalf("MetadataURL with the service off: %v", err)
	}
	if _, err := s.Audit(context.Background(), &pb.AuditRequest{}); err != nil {
		t.Fatalf("Audit without a log: %v", err)
	}
}
