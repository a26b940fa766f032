package helper

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"google.golang.org/grpc/metadata"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// fakeDaemon is an AgentService that answers from fields and records what it
// was asked, so helper tests can check requests (channels, hosts) and feed
// the output formats values no real daemon would allow.
type fakeDaemon struct {
	agentgrpc.UnimplementedAgentServiceServer
	socket string

	mu       sync.Mutex
	tokens   map[string]*pb.GetTokenResponse // by profile name
	byHost   map[string]string               // normalised host -> profile
	metadata *pb.MetadataURLResponse         // nil: Unimplemented
	rejects  bool                            // ReportRejected implemented
	got      []*pb.GetTokenRequest
	rejected []*pb.ReportRejectedRequest
	logins   []*pb.LoginRequest

	// U2M: Begin answers oauthBegin; Await waits for oauthFinish (closed:
	// the browser came back) or for the call to end, which it records.
	oauthBegins    []*pb.BeginOAuthLoginRequest
	oauthBegin     *pb.BeginOAuthLoginResponse
	oauthFinish    chan struct{}
	oauthAwaiting  chan struct{} // closed when an Await has arrived
	oauthCancelled chan struct{} // closed when an Await ended early
	oauthImports   []*pb.ImportOAuthRequest
	importFails    map[string]error // by profile
	// tokenFails makes GetToken of a profile fail with that status and,
	// when the kind is not empty, that kind in the errkind.Trailer.
	tokenFails map[string]sentFailure
	cliKeyring map[string]bool // OS-keyring accounts holding a CLI login (ImportOAuth by cli_keyring_keys)

	// profiles, when set, is what ListProfiles and Status list; audit is
	// what Audit answers.
	profiles []*pb.Profile
	audit    []*pb.AuditEvent
	// store is what Status says of the store (nil: a daemon too old to).
	store *pb.StoreStatus
	// shutdowns counts Shutdown calls.
	shutdowns int
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	// Unix socket paths are limited to ~100 bytes; t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "dbxh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeDaemon{socket: filepath.Join(dir, "s"), tokens: map[string]*pb.GetTokenResponse{}, byHost: map[string]string{},
		oauthBegin:  &pb.BeginOAuthLoginResponse{LoginId: "login-1", AuthorizeUrl: "https://adb-1.azuredatabricks.net/oidc/v1/authorize?client_id=databricks-cli&state=s&x=1", CallbackPort: 8020},
		oauthFinish: make(chan struct{}), oauthAwaiting: make(chan struct{}), oauthCancelled: make(chan struct{})}
	l, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	agentgrpc.RegisterAgentServiceServer(g, f)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return f
}

func (f *fakeDaemon) add(profile, host, token string, resp *pb.GetTokenResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp == nil {
		resp = &pb.GetTokenResponse{}
	}
	resp.AccessToken, resp.TokenType = token, "Bearer"
	if resp.Profile == nil {
		resp.Profile = &pb.Profile{}
	}
	resp.Profile.Name, resp.Profile.Host = profile, host
	f.tokens[profile] = resp
	f.byHost[host] = profile
}

// sentFailure is a failure as a daemon sends it: a status, and a kind in
// the trailer (none from a daemon that predates kinds).
type sentFailure struct {
	code codes.Code
	kind string
}

func (f *fakeDaemon) GetToken(ctx context.Context, req *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, req)
	name := req.GetProfile()
	if name == "" {
		name = f.byHost[req.GetHost()]
	}
	if fail, ok := f.tokenFails[name]; ok {
		if fail.kind != "" {
			grpc.SetTrailer(ctx, metadata.Pairs(errkind.Trailer, fail.kind))
		}
		return nil, status.Errorf(fail.code, "%s failed as asked", name)
	}
	tok, ok := f.tokens[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown profile %q", name)
	}
	return tok, nil
}

// Login records the request and accepts it, naming the user "someone".
func (f *fakeDaemon) Login(_ context.Context, req *pb.LoginRequest) (*pb.LoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logins = append(f.logins, req)
	return &pb.LoginResponse{Profile: &pb.Profile{Name: req.GetProfile(), Host: req.GetHost(), UserName: "someone"}}, nil
}

// ListProfiles lists the profiles logged in through Login, as ready.
func (f *fakeDaemon) ListProfiles(context.Context, *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.profiles != nil {
		return &pb.ListProfilesResponse{Profiles: f.profiles}, nil
	}
	resp := &pb.ListProfilesResponse{}
	for _, l := range f.logins {
		resp.Profiles = append(resp.Profiles, &pb.Profile{Name: l.GetProfile(), Host: l.GetHost(), State: pb.ProfileState_PROFILE_STATE_READY})
	}
	return resp, nil
}

// BeginOAuthLogin records the request and answers oauthBegin.
func (f *fakeDaemon) BeginOAuthLogin(_ context.Context, req *pb.BeginOAuthLoginRequest) (*pb.BeginOAuthLoginResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauthBegins = append(f.oauthBegins, req)
	return f.oauthBegin, nil
}

// AwaitOAuthLogin finishes when the test closes oauthFinish, and records
// a call that ended first: for the daemon that cancels the login.
func (f *fakeDaemon) AwaitOAuthLogin(ctx context.Context, req *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	f.mu.Lock()
	var begin *pb.BeginOAuthLoginRequest
	if n := len(f.oauthBegins); n > 0 {
		begin = f.oauthBegins[n-1]
	}
	closeOnce(f.oauthAwaiting)
	f.mu.Unlock()
	select {
	case <-f.oauthFinish:
		return &pb.AwaitOAuthLoginResponse{Profile: &pb.Profile{Name: begin.GetProfile(), Host: begin.GetHost(), AccountId: begin.GetAccountId(),
			UserName: "someone@example.com", Kind: pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M}}, nil
	case <-ctx.Done():
		f.with(func(f *fakeDaemon) { closeOnce(f.oauthCancelled) })
		return nil, status.Error(codes.Canceled, "login cancelled")
	}
}

// ImportOAuth records the request and accepts it (as a profile that
// ListProfiles then shows ready) unless importFails names the profile.
func (f *fakeDaemon) ImportOAuth(_ context.Context, req *pb.ImportOAuthRequest) (*pb.ImportOAuthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.oauthImports = append(f.oauthImports, req)
	if err := f.importFails[req.GetProfile()]; err != nil {
		return nil, err
	}
	keyringKey := ""
	if req.GetRefreshToken() == "" {
		for _, k := range req.GetCliKeyringKeys() {
			if f.cliKeyring[k] {
				keyringKey = k
				break
			}
		}
		if keyringKey == "" {
			return nil, status.Error(codes.NotFound, "the OS keyring holds no Databricks CLI login")
		}
	}
	f.logins = append(f.logins, &pb.LoginRequest{Profile: req.GetProfile(), Host: req.GetHost()})
	return &pb.ImportOAuthResponse{Profile: &pb.Profile{Name: req.GetProfile(), Host: req.GetHost(), AccountId: req.GetAccountId(),
		UserName: "someone@example.com", Kind: pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M}, CliKeyringKey: keyringKey}, nil
}

// closeOnce closes ch unless it is closed; the caller holds f.mu.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (f *fakeDaemon) oauthImportRequests() []*pb.ImportOAuthRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.ImportOAuthRequest(nil), f.oauthImports...)
}

func (f *fakeDaemon) oauthBeginRequests() []*pb.BeginOAuthLoginRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.BeginOAuthLoginRequest(nil), f.oauthBegins...)
}

// Status answers with the profiles set in f.profiles.
func (f *fakeDaemon) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &pb.StatusResponse{Version: "test", Profiles: f.profiles, ProfileCount: int32(len(f.profiles)), Store: f.store}, nil
}

func (f *fakeDaemon) Shutdown(context.Context, *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdowns++
	return &pb.ShutdownResponse{Pid: 1}, nil
}

func (f *fakeDaemon) Audit(context.Context, *pb.AuditRequest) (*pb.AuditResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &pb.AuditResponse{Events: f.audit}, nil
}

func (f *fakeDaemon) loginRequests() []*pb.LoginRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.LoginRequest(nil), f.logins...)
}

func (f *fakeDaemon) MetadataURL(_ context.Context, req *pb.MetadataURLRequest) (*pb.MetadataURLResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.metadata == nil {
		return nil, status.Error(codes.Unimplemented, "method MetadataURL not implemented")
	}
	return f.metadata, nil
}

func (f *fakeDaemon) ReportRejected(_ context.Context, req *pb.ReportRejectedRequest) (*pb.ReportRejectedResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.rejects {
		return nil, status.Error(codes.Unimplemented, "method ReportRejected not implemented")
	}
	f.rejected = append(f.rejected, req)
	return &pb.ReportRejectedResponse{Renewed: true}, nil
}

// with changes the fake's answers under its lock (the race detector cannot
// see the ordering that the socket gives).
func (f *fakeDaemon) with(fn func(f *fakeDaemon)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDaemon) reports() []*pb.ReportRejectedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.ReportRejectedRequest(nil), f.rejected...)
}

func (f *fakeDaemon) requests() []*pb.GetTokenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*pb.GetTokenRequest(nil), f.got...)
}

// run runs dbx-cred in process against f.
func (f *fakeDaemon) run(stdin string, env map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = Main(args, IO{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, StdinFd: -1,
		Getenv: func(k string) string {
			if k == "DBX_CRED_SOCKET" {
				return f.socket
			}
			return env[k]
		},
	})
	return out.String(), errb.String(), code
}
