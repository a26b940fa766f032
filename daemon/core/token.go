package core

import (
	"context"
	"fmt"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
)

// TokenRequest asks for a token, and says through which channel it goes
// out, in the audit log's words ("token", "env", "git", "metadata", ...;
// empty means "token").
type TokenRequest struct {
	profiles.TokenRequest
	Channel string
	// Caller is who asked, when the adapter's transport tells it (the
	// metadata endpoint's TCP peer); nil: the gRPC peer in ctx.
	Caller *Caller
	// Scope, when not nil, is the forwarding socket the request came
	// through: only its profiles are served, and the audit names it.
	Scope *Scope
	// Unrecorded leaves the hand-out out of the audit, for an adapter
	// that records it itself once it knows more (the proxy:
	// RecordRequest, with the request's status).
	Unrecorded bool
}

// Caller is a client as the OS names it: uid, and pid when known (0).
type Caller struct{ UID, PID int }

// Token returns the profile's token and records that it was handed out.
func (s *Service) Token(ctx context.Context, req TokenRequest) (profiles.Token, error) {
	if req.Scope != nil {
		name, err := s.lent(req.Scope, req.TokenRequest)
		if err != nil {
			return profiles.Token{}, err
		}
		req.Profile, req.Host, req.AccountID = name, "", ""
	}
	tok, err := s.profiles.Token(ctx, req.TokenRequest)
	if err != nil {
		return profiles.Token{}, s.fail(ctx, "get token", req.Profile, err)
	}
	if !req.Unrecorded {
		s.served(ctx, req, tok, "")
	}
	return tok, nil
}

// RecordRequest records a hand-out made with Unrecorded, with what it
// was used for: "METHOD /path STATUS".
func (s *Service) RecordRequest(ctx context.Context, req TokenRequest, tok profiles.Token, request string) {
	s.served(ctx, req, tok, request)
}

// served records a hand-out. The channel is the client's word; uid, pid
// and executable are the kernel's.
func (s *Service) served(ctx context.Context, req TokenRequest, tok profiles.Token, request string) {
	channel := req.Channel
	if channel == "" {
		channel = "token"
	}
	ev := audit.Event{Profile: tok.Profile.Name, Channel: channel, Kind: tok.Profile.Served, Expiry: tok.Expiry, PeerUID: -1}
	if req.Scope != nil {
		ev.Via = req.Scope.Label
	}
	ev.Request = request
	if c := req.Caller; c != nil {
		ev.PeerUID, ev.PeerPID, ev.PeerExe = c.UID, c.PID, peercred.Exe(c.PID)
	} else if p, ok := peercred.FromContext(ctx); ok && p.Known {
		ev.PeerUID, ev.PeerPID, ev.PeerExe = p.UID, p.PID, p.Exe
	}
	s.audit.Record(ev)
}

// Audit lists the most recent hand-outs, oldest first, at most limit (0:
// all that are kept).
func (s *Service) Audit(limit int) []audit.Event { return s.audit.Recent(limit) }

// ReportRejected: a client (git's "erase") saw the token refused, so the
// daemon stops serving it and mints a new one. It reports whether it did.
func (s *Service) ReportRejected(ctx context.Context, req profiles.TokenRequest, token string) (bool, error) {
	renewed, err := s.profiles.ReportRejected(ctx, req, token)
	if err != nil {
		return false, s.fail(ctx, "report rejected", req.Profile, err)
	}
	return renewed, nil
}

// LoginRequest is a login with a pasted secret: a PAT, or with
// Options.ClientID a service principal's client secret.
type LoginRequest struct {
	Profile, Host string
	Secret        string
	Options       profiles.LoginOptions
}

// LoginResult is a stored login.
type LoginResult struct {
	Profile  profiles.Profile
	Replaced bool
	// AdoptMessage says what adopting the pasted token did (Options.Adopt).
	AdoptMessage string
}

// Login validates and stores a login, then adopts its token when asked.
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	p, replaced, err := s.profiles.Login(ctx, req.Profile, req.Host, req.Secret, req.Options)
	if err != nil {
		return LoginResult{}, s.fail(ctx, "login", req.Profile, err)
	}
	res := LoginResult{Profile: p, Replaced: replaced}
	if req.Options.Adopt {
		ad, err := s.profiles.Adopt(ctx, p.Name)
		if err != nil {
			return LoginResult{}, s.fail(ctx, "login", req.Profile, fmt.Errorf("profile %q is stored and serves the token you pasted, but adopting it failed (dbx-cred rotate -p %s tries again): %w", p.Name, p.Name, err))
		}
		res.Profile, res.AdoptMessage = ad.Profile, ad.Message
	}
	return res, nil
}

// Logout revokes what dbx-cred made for the profile and forgets it, its
// metadata URL included.
func (s *Service) Logout(ctx context.Context, name string) (profiles.LogoutResult, error) {
	res, err := s.profiles.Logout(ctx, name)
	if err != nil {
		return profiles.LogoutResult{}, s.fail(ctx, "logout", name, err)
	}
	s.forgetMetadataURL(ctx, name)
	return res, nil
}

// Rotate replaces the profile's long-lived root.
func (s *Service) Rotate(ctx context.Context, name string) (profiles.RotateResult, error) {
	res, err := s.profiles.Rotate(ctx, name)
	if err != nil {
		return profiles.RotateResult{}, s.fail(ctx, "rotate", name, err)
	}
	return res, nil
}

// List describes every profile, in name order.
func (s *Service) List() []profiles.Profile { return s.profiles.List() }

// Host is the workspace host of a profile, for adapters that forward to it.
func (s *Service) Host(profile string) (string, bool) {
	for _, p := range s.profiles.List() {
		if p.Name == profile {
			return p.Host, true
		}
	}
	return "", false
}
