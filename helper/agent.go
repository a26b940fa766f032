package helper

import (
	"context"

	"github.com/dbx-cred/dbx-cred/helper/grpcwire"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// servicePrefix starts the full name of every AgentService method.
const servicePrefix = "/dbxcred.v1.AgentService/"

// agent is the AgentService client the commands use: one unary call per
// method on a grpcwire connection. It mirrors the generated client's
// methods (dbxcredv1grpc.AgentServiceClient, checked by agent_test.go)
// without linking grpc-go, whose start-up cost is most of the helper's.
type agent struct{ conn *grpcwire.Conn }

// invoke calls the method name with in and returns its answer, or nil and
// a *grpcwire.Status, as the generated client does.
func invoke[Resp any, PResp interface {
	*Resp
	grpcwire.Response
}](ctx context.Context, a agent, name string, in grpcwire.Request) (PResp, error) {
	out := PResp(new(Resp))
	if err := a.conn.Invoke(ctx, servicePrefix+name, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (a agent) GetToken(ctx context.Context, in *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	return invoke[pb.GetTokenResponse](ctx, a, "GetToken", in)
}

func (a agent) Login(ctx context.Context, in *pb.LoginRequest) (*pb.LoginResponse, error) {
	return invoke[pb.LoginResponse](ctx, a, "Login", in)
}

func (a agent) Logout(ctx context.Context, in *pb.LogoutRequest) (*pb.LogoutResponse, error) {
	return invoke[pb.LogoutResponse](ctx, a, "Logout", in)
}

func (a agent) ListProfiles(ctx context.Context, in *pb.ListProfilesRequest) (*pb.ListProfilesResponse, error) {
	return invoke[pb.ListProfilesResponse](ctx, a, "ListProfiles", in)
}

func (a agent) Status(ctx context.Context, in *pb.StatusRequest) (*pb.StatusResponse, error) {
	return invoke[pb.StatusResponse](ctx, a, "Status", in)
}

func (a agent) Rotate(ctx context.Context, in *pb.RotateRequest) (*pb.RotateResponse, error) {
	return invoke[pb.RotateResponse](ctx, a, "Rotate", in)
}

func (a agent) ReportRejected(ctx context.Context, in *pb.ReportRejectedRequest) (*pb.ReportRejectedResponse, error) {
	return invoke[pb.ReportRejectedResponse](ctx, a, "ReportRejected", in)
}

func (a agent) MetadataURL(ctx context.Context, in *pb.MetadataURLRequest) (*pb.MetadataURLResponse, error) {
	return invoke[pb.MetadataURLResponse](ctx, a, "MetadataURL", in)
}

func (a agent) Audit(ctx context.Context, in *pb.AuditRequest) (*pb.AuditResponse, error) {
	return invoke[pb.AuditResponse](ctx, a, "Audit", in)
}

func (a agent) Unlock(ctx context.Context, in *pb.UnlockRequest) (*pb.UnlockResponse, error) {
	return invoke[pb.UnlockResponse](ctx, a, "Unlock", in)
}

func (a agent) Lock(ctx context.Context, in *pb.LockRequest) (*pb.LockResponse, error) {
	return invoke[pb.LockResponse](ctx, a, "Lock", in)
}

func (a agent) Shutdown(ctx context.Context, in *pb.ShutdownRequest) (*pb.ShutdownResponse, error) {
	return invoke[pb.ShutdownResponse](ctx, a, "Shutdown", in)
}

func (a agent) MigrateStore(ctx context.Context, in *pb.MigrateStoreRequest) (*pb.MigrateStoreResponse, error) {
	return invoke[pb.MigrateStoreResponse](ctx, a, "MigrateStore", in)
}

func (a agent) Diagnose(ctx context.Context, in *pb.DiagnoseRequest) (*pb.DiagnoseResponse, error) {
	return invoke[pb.DiagnoseResponse](ctx, a, "Diagnose", in)
}

func (a agent) BeginOAuthLogin(ctx context.Context, in *pb.BeginOAuthLoginRequest) (*pb.BeginOAuthLoginResponse, error) {
	return invoke[pb.BeginOAuthLoginResponse](ctx, a, "BeginOAuthLogin", in)
}

func (a agent) AwaitOAuthLogin(ctx context.Context, in *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	return invoke[pb.AwaitOAuthLoginResponse](ctx, a, "AwaitOAuthLogin", in)
}

func (a agent) ImportOAuth(ctx context.Context, in *pb.ImportOAuthRequest) (*pb.ImportOAuthResponse, error) {
	return invoke[pb.ImportOAuthResponse](ctx, a, "ImportOAuth", in)
}
