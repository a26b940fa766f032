package server

import (
	"context"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// ReportRejected implements AgentService: a client (git's "erase") saw the
// token refused, so the daemon stops serving it and mints a new one.
func (s *Server) ReportRejected(ctx context.Context, req *pb.ReportRejectedRequest) (*pb.ReportRejectedResponse, error) {
	renewed, err := s.profiles.ReportRejected(ctx, profiles.TokenRequest{Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId()}, req.GetAccessToken())
	if err != nil {
		return nil, s.fail(ctx, "report rejected", req.GetProfile(), err)
	}
	return &pb.ReportRejectedResponse{Renewed: renewed}, nil
}
