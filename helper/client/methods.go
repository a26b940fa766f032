package client

import (
	"context"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// One method per AgentService call (proto/dbxcred/v1/agent_service.proto),
// each as the generated client's (methods_test.go holds them to it).

func (c *Client) GetToken(ctx context.Context, in *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	return call[pb.GetTokenResponse](ctx, c, "GetToken", in)
}

func (c *Client) Login(ctx context.Context, in *pb.LoginRequest) (*pb.LoginResponse, error) {
	return call[pb.LoginResponse](ctx, c, "Login", in)
}

func (c *Client) Logout(ctx context.Context, in *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	return call[pb.LogoutResponse](ctx, c, "Logout", in)
}

func (c *Client) ListProfiles(ctx context.Context, in *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return call[pb.ListProfilesResponse](ctx, c, "ListProfiles", in)
}

func (c *Client) Status(ctx context.Context, in *pb.StatusRequest) (*pb.StatusResponse, error) {
	return call[pb.StatusResponse](ctx, c, "Status", in)
}

func (c *Client) Rotate(ctx context.Context, in *pb.RotateRequest) (*pb.RotateResponse, error) {
	return call[pb.RotateResponse](ctx, c, "Rotate", in)
}

func (c *Client) ReportRejected(ctx context.Context, in *pb.ReportRejectedRequest) (*pb.ReportRejectedResponse, error) {
	return call[pb.ReportRejectedResponse](ctx, c, "ReportRejected", in)
}

func (c *Client) MetadataURL(ctx context.Context, in *pb.MetadataURLRequest) (*pb.MetadataURLResponse, error) {
	return call[pb.MetadataURLResponse](ctx, c, "MetadataURL", in)
}

func (c *Client) Audit(ctx context.Context, in *pb.AuditRequest) (*pb.AuditResponse, error) {
	return call[pb.AuditResponse](ctx, c, "Audit", in)
}

func (c *Client) Unlock(ctx context.Context, in *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	return call[pb.UnlockResponse](ctx, c, "Unlock", in)
}

func (c *Client) Lock(ctx context.Context, in *pb.LockRequest) (*pb.LockResponse, error) {
	return call[pb.LockResponse](ctx, c, "Lock", in)
}

func (c *Client) Shutdown(ctx context.Context, in *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	return call[pb.ShutdownResponse](ctx, c, "Shutdown", in)
}

func (c *Client) MigrateStore(ctx context.Context, in *pb.MigrateStoreRequest) (*pb.MigrateStoreResponse, error) {
	return call[pb.MigrateStoreResponse](ctx, c, "MigrateStore", in)
}

func (c *Client) Diagnose(ctx context.Context, in *pb.DiagnoseRequest) (*pb.DiagnoseResponse, error) {
	return call[pb.DiagnoseResponse](ctx, c, "Diagnose", in)
}

func (c *Client) BeginOAuthLogin(ctx context.Context, in *pb.BeginOAuthLoginRequest) (*pb.BeginOAuthLoginResponse, error) {
	return call[pb.BeginOAuthLoginResponse](ctx, c, "BeginOAuthLogin", in)
}

func (c *Client) AwaitOAuthLogin(ctx context.Context, in *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	return call[pb.AwaitOAuthLoginResponse](ctx, c, "AwaitOAuthLogin", in)
}

func (c *Client) ImportOAuth(ctx context.Context, in *pb.ImportOAuthRequest) (*pb.ImportOAuthResponse, error) {
	return call[pb.ImportOAuthResponse](ctx, c, "ImportOAuth", in)
}

func (c *Client) CheckTokens(ctx context.Context, in *pb.CheckTokensRequest) (*pb.CheckTokensResponse, error) {
	return call[pb.CheckTokensResponse](ctx, c, "CheckTokens", in)
}

func (c *Client) CreateForward(ctx context.Context, in *pb.CreateForwardRequest) (*pb.CreateForwardResponse, error) {
	return call[pb.CreateForwardResponse](ctx, c, "CreateForward", in)
}

func (c *Client) ListForwards(ctx context.Context, in *pb.ListForwardsRequest) (*pb.ListForwardsResponse, error) {
	return call[pb.ListForwardsResponse](ctx, c, "ListForwards", in)
}

func (c *Client) RevokeForward(ctx context.Context, in *pb.RevokeForwardRequest) (*pb.RevokeForwardResponse, error) {
	return call[pb.RevokeForwardResponse](ctx, c, "RevokeForward", in)
}

func (c *Client) StartProxy(ctx context.Context, in *pb.StartProxyRequest) (*pb.StartProxyResponse, error) {
	return call[pb.StartProxyResponse](ctx, c, "StartProxy", in)
}

func (c *Client) ListProxies(ctx context.Context, in *pb.ListProxiesRequest) (*pb.ListProxiesResponse, error) {
	return call[pb.ListProxiesResponse](ctx, c, "ListProxies", in)
}

func (c *Client) StopProxy(ctx context.Context, in *pb.StopProxyRequest) (*pb.StopProxyResponse, error) {
	return call[pb.StopProxyResponse](ctx, c, "StopProxy", in)
}
