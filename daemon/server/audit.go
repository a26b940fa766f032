package server

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// WithAudit makes the server record every token it hands out in a and show
// a in the Audit RPC. Without it nothing is recorded.
func (s *Server) WithAudit(a *audit.Log) *Server {
	s.audit = a
	return s
}

// served records a GetToken hand-out. The channel is the client's word
// (absent means "dbx-cred token"); uid, pid and executable are the kernel's.
func (s *Server) served(ctx context.Context, ch pb.Channel, tok profiles.Token, kind pb.TokenKind) {
	if s.audit == nil {
		return
	}
	if ch == pb.Channel_CHANNEL_UNSPECIFIED {
		ch = pb.Channel_CHANNEL_TOKEN
	}
	ev := audit.Event{Profile: tok.Profile.Name, Channel: enumWord(ch.String(), "CHANNEL_"),
		Kind: enumWord(kind.String(), "TOKEN_KIND_"), Expiry: tok.Expiry, PeerUID: -1}
	if p, ok := peercred.FromContext(ctx); ok && p.Known {
		ev.PeerUID, ev.PeerPID, ev.PeerExe = p.UID, p.PID, p.Exe
	}
	s.audit.Record(ev)
}

// Audit implements AgentService.
func (s *Server) Audit(_ context.Context, req *pb.AuditRequest) (*pb.AuditResponse, error) {
	if s.audit == nil {
		return &pb.AuditResponse{}, nil
	}
	evs := s.audit.Recent(int(req.GetLimit()))
	out := make([]*pb.AuditEvent, len(evs))
	for i, e := range evs {
		out[i] = &pb.AuditEvent{
			Time:    timestamppb.New(e.Time),
			Profile: e.Profile,
			Channel: pb.Channel(pb.Channel_value[enumName("CHANNEL_", e.Channel)]),
			PeerUid: int64(e.PeerUID),
			PeerPid: int64(e.PeerPID),
			PeerExe: e.PeerExe,
			Kind:    pb.TokenKind(pb.TokenKind_value[enumName("TOKEN_KIND_", e.Kind)]),
		}
		if !e.Expiry.IsZero() {
			out[i].TokenExpiry = timestamppb.New(e.Expiry)
		}
	}
	return &pb.AuditResponse{Events: out}, nil
}

// enumWord turns CHANNEL_METADATA into "metadata", the audit log's words;
// enumName is its inverse.
func enumWord(s, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s, prefix)), "_", "-")
}

func enumName(prefix, word string) string {
	return prefix + strings.ReplaceAll(strings.ToUpper(word), "-", "_")
}
