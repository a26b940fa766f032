package server

import (
	"context"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// Check is one diagnosis (pb.Check); Status is OK, WARN, FAIL or SKIP.
type Check struct {
	Name, Status, Message, Fix string
}

// Diagnoser runs the checks only the daemon can: those that need the store
// or the workspace's HTTP and TLS, which the helper does not link.
type Diagnoser interface {
	Diagnose(ctx context.Context, profile string) ([]Check, error)
}

// WithDiagnoser serves Diagnose from d; without it Diagnose is refused.
func (s *Server) WithDiagnoser(d Diagnoser) *Server {
	s.diagnoser = d
	return s
}

var checkStatus = map[string]pb.CheckStatus{
	"OK": pb.CheckStatus_CHECK_STATUS_OK, "WARN": pb.CheckStatus_CHECK_STATUS_WARN,
	"FAIL": pb.CheckStatus_CHECK_STATUS_FAIL, "SKIP": pb.CheckStatus_CHECK_STATUS_SKIP,
}

// Diagnose implements AgentService.
func (s *Server) Diagnose(ctx context.Context, req *pb.DiagnoseRequest) (*pb.DiagnoseResponse, error) {
	if s.diagnoser == nil {
		return nil, failure(errkind.Unsupported, "this dbx-credd cannot diagnose itself: upgrade it, then dbx-cred daemon restart")
	}
	checks, err := s.diagnoser.Diagnose(ctx, req.GetProfile())
	if err != nil {
		return nil, s.fail(ctx, "diagnose", req.GetProfile(), err)
	}
	out := &pb.DiagnoseResponse{}
	for _, c := range checks {
		out.Checks = append(out.Checks, &pb.Check{Name: c.Name, Status: checkStatus[c.Status], Message: c.Message, Fix: c.Fix})
	}
	return out, nil
}
