package helper

import (
	"fmt"
	"strings"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const tokenHelp = `
Prints the profile's token on stdout followed by a newline, and nothing else,
for use in scripts:

  curl -H "Authorization: Bearer $(dbx-cred token -p prod)" ...

For a rotating profile (the default) this is a short-lived token minted from
the stored one; it dies on its own within its lifetime. --scope asks for a
token restricted to some scopes (least privilege), e.g.:

  dbx-cred token -p prod --scope sql

Prefer "dbx-cred env" or tool-specific helpers over keeping the token in a
variable.`

func runToken(c *cli, args []string) error {
	fs := c.flags("token", "[-p NAME]", tokenHelp)
	profile := c.profileFlag(fs)
	var scopes scopeList
	fs.Var(&scopes, "scope", "restrict the token to `SCOPE` (repeatable, or comma-separated), e.g. --scope sql")
	if err := parse(fs, args); err != nil {
		return err
	}
	tok, err := c.fetchToken(&pb.GetTokenRequest{Profile: *profile, Scopes: scopes, Channel: pb.Channel_CHANNEL_TOKEN})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.io.Stdout, tok.GetAccessToken())
	return err
}

// scopeList collects --scope values.
type scopeList []string

func (s *scopeList) String() string { return strings.Join(*s, ",") }

func (s *scopeList) Type() string { return "SCOPE" }

func (s *scopeList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}
