package server

import (
	"context"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// Rotate implements AgentService.
func (s *Server) Rotate(ctx context.Context, req *pb.RotateRequest) (*pb.RotateResponse, error) {
	res, err := s.profiles.Rotate(ctx, req.GetProfile())
	if err != nil {
		return nil, s.fail(ctx, "rotate", req.GetProfile(), err)
	}
	return &pb.RotateResponse{Profile: toProto(res.Profile), OldRootRevoked: res.OldRootRevoked, Message: res.Message}, nil
}
