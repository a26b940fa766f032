package core

import (
	"context"
)

// Check is one diagnosis; Status is OK, WARN, FAIL or SKIP.
type Check struct {
	Name, Status, Message, Fix string
}

// Diagnoser runs the checks only the daemon can: those that need the store
// or the workspace's HTTP and TLS, which the helper does not link.
type Diagnoser interface {
	Diagnose(ctx context.Context, profile string) ([]Check, error)
}

// Diagnose runs the daemon's checks, for every profile or only one.
func (s *Service) Diagnose(ctx context.Context, profile string) ([]Check, error) {
	checks, err := s.diagnoser.Diagnose(ctx, profile)
	if err != nil {
		return nil, s.fail(ctx, "diagnose", profile, err)
	}
	return checks, nil
}
