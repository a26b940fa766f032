package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// MetadataURLs hands out the metadata service's per-profile URLs
// (daemon/adapter/metadata.Server).
type MetadataURLs interface {
	URL(ctx context.Context, profile string, rotate bool) (string, error)
	Forget(ctx context.Context, profile string) error
	// ForgetAll drops every URL secret from memory (not from the store),
	// when the store is locked.
	ForgetAll()
	// State is the service's base URL while it serves, else why it does
	// not ("" when it has not said).
	State() (base, errText string)
}

// withMetadataState is info with the metadata service as it is now: it
// may take its port after the daemon started.
func (s *Service) withMetadataState(info Info) Info {
	if s.metadata != nil {
		info.MetadataListen, info.MetadataError = s.metadata.State()
	}
	return info
}

// MetadataURL is a profile's URL at the metadata service, with what an SDK
// configured with it needs beside it.
type MetadataURL struct {
	URL, Host, AccountID string
}

// MetadataURL hands out the profile's metadata URL (a new one with rotate).
func (s *Service) MetadataURL(ctx context.Context, name string, rotate bool) (MetadataURL, error) {
	if s.metadata == nil {
		// Disabled, not Unsupported: the daemon knows the operation, it
		// was started with the service off.
		return MetadataURL{}, errkind.New(errkind.Disabled,
			"the metadata service is off in this dbx-credd (--metadata-listen off): restart it with dbx-credd run --metadata-listen 127.0.0.1:8471")
	}
	if err := profiles.ValidateName(name); err != nil {
		return MetadataURL{}, s.fail(ctx, "metadata url", name, err)
	}
	var out MetadataURL
	for _, p := range s.profiles.List() {
		if p.Name == name {
			out.Host, out.AccountID = p.Host, p.AccountID
		}
	}
	if out.Host == "" {
		return MetadataURL{}, s.fail(ctx, "metadata url", name, fmt.Errorf("%w %q: known profiles: %s (log in first with dbx-cred login -p %s --host <workspace URL>)",
			profiles.ErrUnknownProfile, name, strings.Join(s.profiles.Names(), ", "), name))
	}
	url, err := s.metadata.URL(ctx, name, rotate)
	if err != nil {
		return MetadataURL{}, s.fail(ctx, "metadata url", name, err)
	}
	// The URL is a secret: log that it was handed out, never the URL.
	s.log.Info("metadata URL handed out", append([]any{"profile", name, "rotated", rotate}, peerAttrs(ctx)...)...)
	out.URL = url
	return out, nil
}

// forgetMetadataURL drops a logged-out profile's URL, so that a later
// profile of the same name does not inherit it.
func (s *Service) forgetMetadataURL(ctx context.Context, profile string) {
	if s.metadata == nil {
		return
	}
	if err := s.metadata.Forget(ctx, profile); err != nil {
		s.log.Warn("could not delete the metadata URL of a logged-out profile", "profile", profile, "err", err)
	}
}
