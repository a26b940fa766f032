// Package grpcapi is the AgentService on the daemon's private socket: an
// adapter over daemon/core that turns requests into the core's domain
// calls and results back into protobuf, and errors into gRPC statuses
// with their kind (errors.go). Peer checks happen before it, in
// daemon/peercred's interceptors (options.go). It decides nothing itself.
package grpcapi

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// Server is the AgentService over the core.
type Server struct {
	agentgrpc.UnimplementedAgentServiceServer
	core  *core.Service
	enums enums
	// scope is set on a forwarding socket's server: its restricted view.
	// Which methods it answers at all is ForwardOptions' allow-list.
	scope *core.Scope
}

// New returns the AgentService over c.
func New(c *core.Service) *Server { return &Server{core: c, enums: newEnums()} }

// NewScoped returns the AgentService as a forwarding socket serves it:
// tokens for sc's profiles only, lists and status that show only those
// and no local paths, and a git erase that changes nothing.
func NewScoped(c *core.Service, sc *core.Scope) *Server {
	return &Server{core: c, enums: newEnums(), scope: sc}
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { agentgrpc.RegisterAgentServiceServer(g, s) }

// kinded is err as a handler returns it: with its kind's gRPC status.
func kinded(err error) error { return withKind(errkind.Of(err), err) }

// GetToken implements AgentService.
func (s *Server) GetToken(ctx context.Context, req *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	ch := req.GetChannel()
	if ch == pb.Channel_CHANNEL_UNSPECIFIED {
		ch = pb.Channel_CHANNEL_TOKEN
	}
	tok, err := s.core.Token(ctx, core.TokenRequest{TokenRequest: profiles.TokenRequest{
		Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId(), Scopes: req.GetScopes(), ForceRefresh: req.GetForceRefresh(),
	}, Channel: s.enums.channel.word(ch), Scope: s.scope})
	if err != nil {
		return nil, kinded(err)
	}
	resp := &pb.GetTokenResponse{
		AccessToken: tok.Value,
		TokenType:   "Bearer",
		Kind:        s.enums.tokenKind.value(tok.Profile.Served),
		Profile:     s.toProto(tok.Profile),
	}
	if !tok.Expiry.IsZero() {
		resp.Expiry = timestamppb.New(tok.Expiry)
	}
	return resp, nil
}

// Login implements AgentService.
func (s *Server) Login(ctx context.Context, req *pb.LoginRequest) (*pb.LoginResponse, error) {
	res, err := s.core.Login(ctx, core.LoginRequest{Profile: req.GetProfile(), Host: req.GetHost(), Secret: req.GetToken(),
		Options: profiles.LoginOptions{
			Static: req.GetStatic(), Lifetime: req.GetTokenLifetime().AsDuration(), InsecureHTTP: req.GetInsecureHttp(),
			ClientID: req.GetClientId(), AccountID: req.GetAccountId(), Adopt: req.GetAdopt(), NoAutoRotate: req.GetNoAutoRotate(),
			Federated: req.GetFederated(), Audience: req.GetAudience(),
		}})
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.LoginResponse{Profile: s.toProto(res.Profile), Replaced: res.Replaced, AdoptMessage: res.AdoptMessage}, nil
}

// Logout implements AgentService.
func (s *Server) Logout(ctx context.Context, req *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	res, err := s.core.Logout(ctx, req.GetProfile())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.LogoutResponse{Revoked: res.Revoked, Advice: res.Advice}, nil
}

// Rotate implements AgentService.
func (s *Server) Rotate(ctx context.Context, req *pb.RotateRequest) (*pb.RotateResponse, error) {
	res, err := s.core.Rotate(ctx, req.GetProfile())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.RotateResponse{Profile: s.toProto(res.Profile), OldRootRevoked: res.OldRootRevoked, Message: res.Message}, nil
}

// ReportRejected implements AgentService.
func (s *Server) ReportRejected(ctx context.Context, req *pb.ReportRejectedRequest) (*pb.ReportRejectedResponse, error) {
	if s.scope != nil {
		// git's erase from a remote machine: nothing to do, as git expects
		// of a helper that stores nothing. Renewals stay the laptop's.
		return &pb.ReportRejectedResponse{}, nil
	}
	renewed, err := s.core.ReportRejected(ctx, profiles.TokenRequest{Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId()}, req.GetAccessToken())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.ReportRejectedResponse{Renewed: renewed}, nil
}

// ListProfiles implements AgentService.
func (s *Server) ListProfiles(context.Context, *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return &pb.ListProfilesResponse{Profiles: s.listProto(s.core.List())}, nil
}

// listProto is list in protobuf, only the scope's profiles on a forward.
func (s *Server) listProto(list []profiles.Profile) []*pb.Profile {
	out := make([]*pb.Profile, 0, len(list))
	for _, p := range list {
		if s.scope == nil || s.scope.Lends(p.Name) {
			out = append(out, s.toProto(p))
		}
	}
	return out
}

// Status implements AgentService.
func (s *Server) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.core.Status(ctx)
	if s.scope != nil {
		// The remote machine's view: what it may use, nothing of this
		// machine's paths, store or other profiles.
		list := s.listProto(st.Profiles)
		return &pb.StatusResponse{Version: st.Version, Started: timestamppb.New(st.Started), Profiles: list,
			ProfileCount: int32(len(list)), ForwardedLabel: s.scope.Label}, nil
	}
	var orphans []*pb.OrphanSecret
	for _, o := range st.Orphans {
		orphans = append(orphans, &pb.OrphanSecret{Profile: o.Profile, Reason: o.Reason, Since: stamp(o.Since)})
	}
	return &pb.StatusResponse{
		Store:          storeProto(st.Store),
		Version:        st.Version,
		Pid:            int64(st.PID),
		Started:        timestamppb.New(st.Started),
		Socket:         st.Socket,
		KeyringBackend: st.Backend,
		RegistryPath:   st.RegistryPath,
		ProfileCount:   int32(len(st.Profiles)),
		Hardened:       st.Hardened,
		MetadataListen: st.MetadataListen,
		MetadataError:  st.MetadataError,
		Profiles:       s.listProto(st.Profiles),
		Orphans:        orphans,
		StartedBy:      st.StartedBy,
	}, nil
}

// BeginOAuthLogin implements AgentService.
func (s *Server) BeginOAuthLogin(ctx context.Context, req *pb.BeginOAuthLoginRequest) (*pb.BeginOAuthLoginResponse, error) {
	b, err := s.core.BeginOAuth(ctx, core.OAuthTarget{Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId(),
		Insecure: req.GetInsecureHttp(), Scopes: req.GetScopes()})
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.BeginOAuthLoginResponse{
		LoginId: b.ID, AuthorizeUrl: b.AuthorizeURL, CallbackPort: int32(b.CallbackPort), Deadline: timestamppb.New(b.Deadline),
	}, nil
}

// AwaitOAuthLogin implements AgentService.
func (s *Server) AwaitOAuthLogin(ctx context.Context, req *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	res, err := s.core.AwaitOAuth(ctx, req.GetLoginId())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.AwaitOAuthLoginResponse{Profile: s.toProto(res.Profile), Replaced: res.Replaced}, nil
}

// ImportOAuth implements AgentService.
func (s *Server) ImportOAuth(ctx context.Context, req *pb.ImportOAuthRequest) (*pb.ImportOAuthResponse, error) {
	res, err := s.core.ImportOAuth(ctx, core.ImportRequest{
		OAuthTarget: core.OAuthTarget{Profile: req.GetProfile(), Host: req.GetHost(), AccountID: req.GetAccountId(),
			Insecure: req.GetInsecureHttp(), Scopes: req.GetScopes()},
		RefreshToken: req.GetRefreshToken(), CLIKeyringKeys: req.GetCliKeyringKeys(),
	})
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.ImportOAuthResponse{Profile: s.toProto(res.Profile), Replaced: res.Replaced, CliKeyringKey: res.CLIKeyringKey, Advice: res.Advice}, nil
}

// Unlock implements AgentService.
func (s *Server) Unlock(ctx context.Context, req *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	st, created, err := s.core.Unlock(ctx, req.GetPassphrase(), req.GetCreate())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.UnlockResponse{Store: storeProto(st), Created: created}, nil
}

// Lock implements AgentService.
func (s *Server) Lock(ctx context.Context, _ *pb.LockRequest) (*pb.LockResponse, error) {
	st, n, err := s.core.Lock(ctx)
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.LockResponse{Store: storeProto(st), Unloaded: int32(n)}, nil
}

// MigrateStore implements AgentService.
func (s *Server) MigrateStore(ctx context.Context, req *pb.MigrateStoreRequest) (*pb.MigrateStoreResponse, error) {
	res, err := s.core.Migrate(ctx, req.GetTo(), req.GetPassphrase())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.MigrateStoreResponse{From: res.From, To: res.To, Moved: res.Moved, Advice: res.Advice}, nil
}

// Shutdown implements AgentService.
func (s *Server) Shutdown(context.Context, *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	pid, socket, err := s.core.Shutdown()
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.ShutdownResponse{Pid: int64(pid), Socket: socket}, nil
}

// MetadataURL implements AgentService.
func (s *Server) MetadataURL(ctx context.Context, req *pb.MetadataURLRequest) (*pb.MetadataURLResponse, error) {
	u, err := s.core.MetadataURL(ctx, req.GetProfile(), req.GetRotate())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.MetadataURLResponse{Url: u.URL, Host: u.Host, AccountId: u.AccountID}, nil
}

var checkStatus = map[string]pb.CheckStatus{
	"OK": pb.CheckStatus_CHECK_STATUS_OK, "WARN": pb.CheckStatus_CHECK_STATUS_WARN,
	"FAIL": pb.CheckStatus_CHECK_STATUS_FAIL, "SKIP": pb.CheckStatus_CHECK_STATUS_SKIP,
}

// Diagnose implements AgentService.
func (s *Server) Diagnose(ctx context.Context, req *pb.DiagnoseRequest) (*pb.DiagnoseResponse, error) {
	checks, err := s.core.Diagnose(ctx, req.GetProfile())
	if err != nil {
		return nil, kinded(err)
	}
	out := &pb.DiagnoseResponse{}
	for _, c := range checks {
		out.Checks = append(out.Checks, &pb.Check{Name: c.Name, Status: checkStatus[c.Status], Message: c.Message, Fix: c.Fix})
	}
	return out, nil
}

// Audit implements AgentService.
func (s *Server) Audit(_ context.Context, req *pb.AuditRequest) (*pb.AuditResponse, error) {
	evs := s.core.Audit(int(req.GetLimit()))
	out := make([]*pb.AuditEvent, len(evs))
	for i, e := range evs {
		out[i] = &pb.AuditEvent{
			Time:    timestamppb.New(e.Time),
			Profile: e.Profile,
			Channel: s.enums.channel.value(e.Channel),
			PeerUid: int64(e.PeerUID),
			PeerPid: int64(e.PeerPID),
			PeerExe: e.PeerExe,
			Count:   int32(e.Count),
			Via:     e.Via,
			Request: e.Request,
			Kind:    s.enums.tokenKind.value(e.Kind),
		}
		if !e.Expiry.IsZero() {
			out[i].TokenExpiry = timestamppb.New(e.Expiry)
		}
	}
	return &pb.AuditResponse{Events: out}, nil
}

func storeProto(i core.StoreInfo) *pb.StoreStatus {
	return &pb.StoreStatus{Name: i.Name, Backend: i.Backend, Reachable: i.Reachable, Locked: i.Locked, Note: i.Note, Exists: i.Exists}
}

func (s *Server) toProto(p profiles.Profile) *pb.Profile {
	out := &pb.Profile{
		Name:         p.Name,
		Host:         p.Host,
		AccountId:    p.AccountID,
		UserName:     p.UserName,
		StateMessage: p.StateMessage,
		Store:        registry.StoreOf(p.Profile),
		Federated:    p.Federated,
		// The registry's words name their wire values ("oauth-m2m" is
		// CREDENTIAL_KIND_OAUTH_M2M), so a new kind needs no case here.
		// An OAuth login has no static or rotating choice: mode UNSPECIFIED.
		Kind: s.enums.credKind.value(p.Kind),
		Mode: s.enums.mode.value(p.Mode),
	}
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
	case profiles.Locked:
		out.State = pb.ProfileState_PROFILE_STATE_LOCKED
	}
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

var tokenVerdict = map[core.TokenVerdict]pb.TokenVerdict{
	core.TokenAccepted: pb.TokenVerdict_TOKEN_VERDICT_ACCEPTED,
	core.TokenRejected: pb.TokenVerdict_TOKEN_VERDICT_REJECTED,
	core.TokenUnknown:  pb.TokenVerdict_TOKEN_VERDICT_UNKNOWN,
}

// CheckTokens implements AgentService.
func (s *Server) CheckTokens(ctx context.Context, req *pb.CheckTokensRequest) (*pb.CheckTokensResponse, error) {
	in := make([]core.HostToken, len(req.GetTokens()))
	for i, t := range req.GetTokens() {
		in[i] = core.HostToken{Host: t.GetHost(), Token: t.GetToken()}
	}
	checks, err := s.core.CheckTokens(ctx, in)
	if err != nil {
		return nil, kinded(err)
	}
	out := &pb.CheckTokensResponse{Checks: make([]*pb.TokenCheck, len(checks))}
	for i, c := range checks {
		out.Checks[i] = &pb.TokenCheck{Verdict: tokenVerdict[c.Verdict], Problem: c.Problem}
	}
	return out, nil
}

func (s *Server) forwardProto(f core.ForwardInfo) *pb.Forward {
	return &pb.Forward{Label: f.Label, Socket: f.Socket, Profiles: f.Profiles, Created: timestamppb.New(f.Created),
		Expires: timestamppb.New(f.Expires), Calls: f.Calls, AllowUid: int64(f.AllowUID), Connections: int32(f.Connections)}
}

// CreateForward implements AgentService.
func (s *Server) CreateForward(ctx context.Context, req *pb.CreateForwardRequest) (*pb.CreateForwardResponse, error) {
	allow := -1
	if req.GetHasAllowUid() {
		allow = int(req.GetAllowUid())
		if int64(allow) != req.GetAllowUid() || allow < 0 {
			return nil, kinded(errkind.New(errkind.BadInput, fmt.Sprintf("--allow-uid %d: give a uid (0 or more)", req.GetAllowUid())))
		}
	}
	f, err := s.core.CreateForward(ctx, core.ForwardSpec{Profiles: req.GetProfiles(), Label: req.GetLabel(),
		TTL: req.GetTtl().AsDuration(), AllowUID: allow})
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.CreateForwardResponse{Forward: s.forwardProto(f)}, nil
}

// ListForwards implements AgentService.
func (s *Server) ListForwards(context.Context, *pb.ListForwardsRequest) (*pb.ListForwardsResponse, error) {
	out := &pb.ListForwardsResponse{}
	for _, f := range s.core.Forwards() {
		out.Forwards = append(out.Forwards, s.forwardProto(f))
	}
	return out, nil
}

// RevokeForward implements AgentService.
func (s *Server) RevokeForward(ctx context.Context, req *pb.RevokeForwardRequest) (*pb.RevokeForwardResponse, error) {
	f, err := s.core.RevokeForward(ctx, req.GetLabel())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.RevokeForwardResponse{Forward: s.forwardProto(f)}, nil
}

func proxyProto(p core.ProxyInfo) *pb.LocalProxy {
	return &pb.LocalProxy{Profile: p.Profile, Url: p.URL, Host: p.Host, Requests: p.Requests}
}

// StartProxy implements AgentService.
func (s *Server) StartProxy(ctx context.Context, req *pb.StartProxyRequest) (*pb.StartProxyResponse, error) {
	p, err := s.core.StartProxy(ctx, req.GetProfile(), req.GetPathSecret())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.StartProxyResponse{Proxy: proxyProto(p)}, nil
}

// ListProxies implements AgentService.
func (s *Server) ListProxies(context.Context, *pb.ListProxiesRequest) (*pb.ListProxiesResponse, error) {
	out := &pb.ListProxiesResponse{}
	for _, p := range s.core.ListProxies() {
		out.Proxies = append(out.Proxies, proxyProto(p))
	}
	return out, nil
}

// StopProxy implements AgentService.
func (s *Server) StopProxy(ctx context.Context, req *pb.StopProxyRequest) (*pb.StopProxyResponse, error) {
	p, err := s.core.StopProxy(ctx, req.GetProfile())
	if err != nil {
		return nil, kinded(err)
	}
	return &pb.StopProxyResponse{Proxy: proxyProto(p)}, nil
}
