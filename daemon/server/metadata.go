package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// MetadataURLs hands out the metadata service's per-profile URLs
// (daemon/metadata.Server).
type MetadataURLs interface {
	URL(ctx context.Context, profile string, rotate bool) (string, error)
	Forget(ctx context.Context, profile string) error
}

// WithMetadata enables the MetadataURL RPC; without it (dbx-credd run
// --metadata-listen off) the RPC explains that the service is off.
func (s *Server) WithMetadata(m MetadataURLs) *Server {
	s.metadata = m
	return s
}

// MetadataURL implements AgentService.
func (s *Server) MetadataURL(ctx context.Context, req *pb.MetadataURLRequest) (*pb.MetadataURLResponse, error) {
	if s.metadata == nil {
		// Disabled, not Unsupported: the daemon knows the RPC, it was
		// started with the service off.
		return nil, failure(errkind.Disabled,
			"the metadata service is off in this dbx-credd (--metadata-listen off): restart it with dbx-credd run --metadata-listen 127.0.0.1:8471")
	}
	name := req.GetProfile()
	if err := profiles.ValidateName(name); err != nil {
		return nil, s.fail(ctx, "metadata url", name, err)
	}
	var host, accountID string
	for _, p := range s.profiles.List() {
		if p.Name == name {
			host, accountID = p.Host, p.AccountID
		}
	}
	if host == "" {
		return nil, s.fail(ctx, "metadata url", name, fmt.Errorf("%w %q: known profiles: %s (log in first with dbx-cred login -p %s --host <workspace URL>)",
			profiles.ErrUnknownProfile, name, strings.Join(s.profiles.Names(), ", "), name))
	}
	url, err := s.metadata.URL(ctx, name, req.GetRotate())
	if err != nil {
		return nil, s.fail(ctx, "metadata url", name, err)
	}
	// The URL is a secret: log that it was handed out, never the URL.
	attrs := []any{"profile", name, "rotated", req.GetRotate()}
	if p, ok := peercred.FromContext(ctx); ok {
		attrs = append(attrs, "peer_uid", p.UID, "peer_pid", p.PID)
	}
	s.log.Info("metadata URL handed out", attrs...)
	return &pb.MetadataURLResponse{Url: url, Host: host, AccountId: accountID}, nil
}

// forgetMetadataURL drops a logged-out profile's URL, so that a later
// profile of the same name does not inherit it.
func (s *Server) forgetMetadataURL(ctx context.Context, profile string) {
	if s.metadata == nil {
		return
	}
	if err := s.metadata.Forget(ctx, profile); err != nil {
		s.log.Warn("could not delete the metadata URL of a logged-out profile", "profile", profile, "err", err)
	}
}
