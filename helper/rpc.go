package helper

import (
	"time"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// tokenTimeout covers a keyring read and, in rotating mode, minting a token
// in the workspace; both usually take milliseconds.
const tokenTimeout = 30 * time.Second

// fetchToken makes the GetToken RPC with a full request. Every caller sets
// req.Channel so the daemon's audit log can tell env from git from curl.
func (c *cli) fetchToken(req *pb.GetTokenRequest) (*pb.GetTokenResponse, error) {
	ctx, cancel := within(tokenTimeout)
	defer cancel()
	resp, err := c.daemon(true).GetToken(ctx, req)
	return resp, err
}

// metadataURL asks for the profile's metadata-service URL. A daemon that
// predates the endpoint answers Unimplemented; the user gets told what to
// use instead rather than a bare status code.
func (c *cli) metadataURL(profile string) (*pb.MetadataURLResponse, error) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).MetadataURL(ctx, &pb.MetadataURLRequest{Profile: profile})
	if errkind.Of(err) == errkind.Unsupported {
		return nil, &exitError{code: exitFailure, msg: "this dbx-credd does not serve the metadata-service endpoint " +
			"(MetadataURL is unimplemented): upgrade dbx-credd, or use --mode token"}
	}
	return resp, err
}
