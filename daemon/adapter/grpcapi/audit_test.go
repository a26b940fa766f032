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
