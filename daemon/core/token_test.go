package core

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/peer"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
)

// Every hand-out is recorded with its channel (none: "token"), kind,
// expiry and the caller the kernel named, the socket's or the metadata
// endpoint's; never the token.
func TestServedIsAuditedAndShown(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	s := &Service{log: log, audit: audit.New(10, log)}
	ctx := peer.NewContext(context.Background(), &peer.Peer{
		AuthInfo: peercred.AuthInfo{UID: os.Getuid(), PID: os.Getpid(), Known: true}})
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	prof := profiles.Profile{Profile: registry.Profile{Name: "prod"}, Served: "pat"}
	tok := profiles.Token{Value: "dapi-secret", Expiry: exp, Profile: prof}
	s.served(ctx, TokenRequest{}, tok, "")
	derived := prof
	derived.Served = "derived-pat"
	s.served(ctx, TokenRequest{Channel: "git"}, profiles.Token{Profile: derived}, "")
	s.served(context.Background(), TokenRequest{Channel: "metadata", Caller: &Caller{UID: 4242, PID: 7}}, profiles.Token{Profile: prof}, "")

	evs := s.Audit(0)
	if len(evs) != 3 {
		t.Fatalf("Audit = %v", evs)
	}
	first, second, third := evs[0], evs[1], evs[2]
	self, _ := os.Executable()
	if first.Profile != "prod" || first.Channel != "token" || first.Kind != "pat" ||
		first.PeerUID != os.Getuid() || first.PeerPID != os.Getpid() ||
		!first.Expiry.Equal(exp) || (first.PeerExe != self && first.PeerExe != "") {
		t.Fatalf("first event: %+v", first)
	}
	if second.Channel != "git" || second.Kind != "derived-pat" || !second.Expiry.IsZero() {
		t.Fatalf("second event: %+v", second)
	}
	if third.Channel != "metadata" || third.PeerUID != 4242 || third.PeerPID != 7 {
		t.Fatalf("third event: %+v", third)
	}
	if evs := s.Audit(1); len(evs) != 1 || evs[0].Channel != "metadata" {
		t.Fatalf("limit 1 should give the newest: %v", evs)
	}
	if strings.Contains(logs.String(), "dapi-secret") || !strings.Contains(logs.String(), "token served") {
		t.Fatalf("log: %s", logs.String())
	}
}
