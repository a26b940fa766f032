// Package server implements the AgentService on top of the profile manager:
// it translates requests and results to the wire and errors to gRPC status
// codes with messages meant for the user. Peer checks happen before it, in
// daemon/peercred's interceptors.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/oauthlogin"
	"github.com/dbx-cred/dbx-cred/daemon/peercred"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// Info describes the running daemon for Status.
type Info struct {
	Version        string
	PID            int
	Started        time.Time
	Socket         string
	RegistryPath   string
	KeyringBackend string
	Hardened       bool
	MetadataListen string // base URL of the metadata service; "" when off or down
	MetadataError  string // why the metadata service is down; "" when it serves or is off
	StartedBy      string // "service", "autostart" or "hand" (dbx-credd run --started-by)
}

// Server is the AgentService.
type Server struct {
	agentgrpc.UnimplementedAgentServiceServer
	profiles  *profiles.Manager
	info      Info
	log       *slog.Logger
	audit     *audit.Log           // see WithAudit
	metadata  MetadataURLs         // see WithMetadata
	stores    Stores               // see WithStores
	shutdown  func()               // see WithShutdown
	diagnoser Diagnoser            // see WithDiagnoser
	logins    *oauthlogin.Registry // U2M logins in progress; see WithOAuth
	// cliKeyring reads the Databricks CLI's keyring items; see WithCLIKeyring.
	cliKeyring store.Store
}

// New returns a Server.
func New(m *profiles.Manager, info Info, log *slog.Logger) *Server {
	return &Server{profiles: m, info: info, log: log, logins: newLogins(OAuthOptions{}, log)}
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { agentgrpc.RegisterAgentServiceServer(g, s) }

// GetToken implements AgentService.
func (s *Server) GetToken(ctx context.Context, req *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	tok, err := s.profiles.Token(ctx, profiles.TokenRequest{
		Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId(), Scopes: req.GetScopes(), ForceRefresh: req.GetForceRefresh(),
	})
	if err != nil {
		return nil, s.fail(ctx, "get token", req.GetProfile(), err)
	}
	resp := &pb.GetTokenResponse{
		AccessToken: tok.Value,
		TokenType:   "Bearer",
		Kind:        tokenKind(tok),
		Profile:     toProto(tok.Profile),
	}
	if !tok.Expiry.IsZero() {
		resp.Expiry = timestamppb.New(tok.Expiry)
	}
	s.served(ctx, req.GetChannel(), tok, resp.Kind)
	return resp, nil
}

// Login implements AgentService.
func (s *Server) Login(ctx context.Context, req *pb.LoginRequest) (*pb.LoginResponse, error) {
	p, replaced, err := s.profiles.Login(ctx, req.GetProfile(), req.GetHost(), req.GetToken(), profiles.LoginOptions{
		Static: req.GetStatic(), Lifetime: req.GetTokenLifetime().AsDuration(), InsecureHTTP: req.GetInsecureHttp(),
		ClientID: req.GetClientId(), AccountID: req.GetAccountId(), Adopt: req.GetAdopt(), NoAutoRotate: req.GetNoAutoRotate(),
	})
	if err != nil {
		return nil, s.fail(ctx, "login", req.GetProfile(), err)
	}
	resp := &pb.LoginResponse{Profile: toProto(p), Replaced: replaced}
	if req.GetAdopt() {
		res, err := s.profiles.Adopt(ctx, p.Name)
		if err != nil {
			return nil, s.fail(ctx, "login", req.GetProfile(), fmt.Errorf("profile %q is stored and serves the token you pasted, but adopting it failed (dbx-cred rotate -p %s tries again): %w", p.Name, p.Name, err))
		}
		resp.Profile, resp.AdoptMessage = toProto(res.Profile), res.Message
	}
	return resp, nil
}

// Logout implements AgentService.
func (s *Server) Logout(ctx context.Context, req *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	res, err := s.profiles.Logout(ctx, req.GetProfile())
	if err != nil {
		return nil, s.fail(ctx, "logout", req.GetProfile(), err)
	}
	s.forgetMetadataURL(ctx, req.GetProfile())
	return &pb.LogoutResponse{Revoked: res.Revoked, Advice: res.Advice}, nil
}

// ListProfiles implements AgentService.
func (s *Server) ListProfiles(context.Context, *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return &pb.ListProfilesResponse{Profiles: s.listProto()}, nil
}

func (s *Server) listProto() []*pb.Profile {
	list := s.profiles.List()
	out := make([]*pb.Profile, len(list))
	for i, p := range list {
		out[i] = toProto(p)
	}
	return out
}

// Status implements AgentService.
func (s *Server) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	var st *pb.StoreStatus
	backend := s.info.KeyringBackend
	if s.stores != nil {
		i := s.stores.Info(ctx)
		st = storeProto(i)
		// keyring_backend carries the state too, for helpers that only
		// print that field.
		backend = i.Backend
		switch {
		case i.Locked:
			backend += ", locked: run dbx-cred unlock"
		case !i.Reachable:
			backend += ", unreachable: see dbx-cred daemon status"
		}
	}
	return &pb.StatusResponse{
		Store:          st,
		Version:        s.info.Version,
		Pid:            int64(s.info.PID),
		Started:        timestamppb.New(s.info.Started),
		Socket:         s.info.Socket,
		KeyringBackend: backend,
		RegistryPath:   s.info.RegistryPath,
		ProfileCount:   int32(len(s.profiles.Names())),
		Hardened:       s.info.Hardened,
		MetadataListen: s.info.MetadataListen,
		MetadataError:  s.info.MetadataError,
		Profiles:       s.listProto(),
		Orphans:        s.orphansProto(),
		StartedBy:      s.info.StartedBy,
	}, nil
}

func (s *Server) orphansProto() []*pb.OrphanSecret {
	var out []*pb.OrphanSecret
	for _, o := range s.profiles.Orphans() {
		out = append(out, &pb.OrphanSecret{Profile: o.Profile, Reason: o.Reason, Since: stamp(o.Since)})
	}
	return out
}

// fail logs err and maps it to a status. Error texts never contain secrets:
// the layers below only ever put profile names and hosts in them.
// The kind travels on: the errors interceptor (errors.go) turns it into
// the status and its trailer.
func (s *Server) fail(ctx context.Context, op, profile string, err error) error {
	kind := errkind.Of(err)
	attrs := append([]any{"op", op, "profile", profile, "kind", kind.String(), "err", err}, peerAttrs(ctx)...)
	switch kind {
	case errkind.Internal, errkind.StoreUnusable, errkind.StoreLocked:
		s.log.Error("request failed", attrs...)
	default:
		s.log.Info("request refused", attrs...)
	}
	return withKind(kind, err)
}

// peerAttrs are the log attributes naming the caller.
func peerAttrs(ctx context.Context) []any {
	if p, ok := peercred.FromContext(ctx); ok {
		return []any{"peer_uid", p.UID, "peer_pid", p.PID}
	}
	return nil
}

func toProto(p profiles.Profile) *pb.Profile {
	out := &pb.Profile{
		Name:         p.Name,
		Host:         p.Host,
		AccountId:    p.AccountID,
		UserName:     p.UserName,
		StateMessage: p.StateMessage,
		Store:        registry.StoreOf(p.Profile),
	}
	// The registry's kind word names its wire value ("oauth-m2m" is
	// CREDENTIAL_KIND_OAUTH_M2M), so a new kind needs no case here.
	out.Kind = pb.CredentialKind(pb.CredentialKind_value[enumName("CREDENTIAL_KIND_", p.Kind)])
	if !p.Created.IsZero() {
		out.Created = timestamppb.New(p.Created)
	}
	switch p.State {
	case profiles.Ready:
		out.State = pb.ProfileState_PROFILE_STATE_READY
	case profiles.Stored:
		out.State = pb.ProfileState_PROFILE_STATE_STORED
	case profiles.NeedsLogin:
		out.State = pb.ProfileState_PROFILE_STATE_NEEDS_LOGIN
	case profiles.KeyringUnavailable:
		out.State = pb.ProfileState_PROFILE_STATE_KEYRING_UNAVAILABLE
	}
	// An OAuth login has no static or rotating choice (its access tokens
	// always renew), so it has no mode: UNSPECIFIED.
	out.Mode = pb.TokenMode(pb.TokenMode_value[enumName("TOKEN_MODE_", p.Mode)])
	if p.Lifetime > 0 {
		out.TokenLifetime = durationpb.New(p.Lifetime)
	}
	out.CurrentExpiry = stamp(p.CurrentExpiry)
	out.NextRenewal = stamp(p.NextRenewal)
	out.RootExpiry = stamp(p.RootExpiry)
	out.LastError = p.LastError
	out.LiveDerivedTokens = int32(p.LiveDerived)
	out.RootExpiryWarning = p.RootWarning
	out.AutoRotate = p.AutoRotate
	out.NextRootRotation = stamp(p.NextRootRotation)
	out.RootRotationError = p.RootRotationError
	return out
}

func stamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// tokenKind is t's kind on the wire, from the word the audit log uses too
// (enumWord's inverse).
func tokenKind(t profiles.Token) pb.TokenKind {
	return pb.TokenKind(pb.TokenKind_value[enumName("TOKEN_KIND_", t.Served())])
}
