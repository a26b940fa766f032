package helper

import (
	"context"
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const tokenHelp = `
Prints the profile's token on stdout followed by a newline, and nothing else,
for use in scripts:

  curl -H "Authorization: Bearer $(dbx-cred token -p prod)" ...

Prefer "dbx-cred env" or tool-specific helpers over keeping the token in a
variable.`

func runToken(c *cli, args []string) error {
	fs := c.flags("token", "[-p NAME]", tokenHelp)
	profile := c.profileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	tok, err := c.getToken(*profile)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.io.Stdout, tok.GetAccessToken())
	return err
}

// getToken is the one RPC most commands make.
func (c *cli) getToken(profile string) (*pb.GetTokenResponse, error) {
	var resp *pb.GetTokenResponse
	err := c.call(30*time.Second, func(ctx context.Context, client pb.AgentServiceClient) error {
		var err error
		resp, err = client.GetToken(ctx, &pb.GetTokenRequest{Profile: profile})
		return err
	})
	return resp, err
}
