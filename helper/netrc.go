package helper

import (
	"fmt"
	"net/url"
	"strings"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const netrcHelp = `
Prints a netrc entry for the profile's workspace:

  machine adb-123.azuredatabricks.net login token password <token>

for curl --netrc-file (or any tool that reads netrc), through a process
substitution so the token lands in neither argv nor a file:

  curl --netrc-file <(dbx-cred netrc -p prod) \
    https://adb-123.azuredatabricks.net/api/2.0/preview/scim/v2/Me

The machine is the host name without a port: curl matches netrc entries on
the host name alone. Do not append it to ~/.netrc; that would put the token
on disk, which is what dbx-cred exists to avoid.`

func runNetrc(c *cli, args []string) error {
	fs := c.flags("netrc", "[-p NAME]", netrcHelp)
	profile := c.profileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	tok, err := c.fetchToken(&pb.GetTokenRequest{Profile: *profile, Channel: pb.Channel_CHANNEL_CURL})
	if err != nil {
		return err
	}
	machine, err := netrcMachine(tok.GetProfile().GetHost())
	if err != nil {
		return fmt.Errorf("netrc: %w", err)
	}
	if !netrcWord(tok.GetAccessToken()) {
		return fmt.Errorf("netrc: the token contains spaces, quotes or control characters, which netrc cannot carry")
	}
	_, err = fmt.Fprintf(c.io.Stdout, "machine %s login token password %s\n", machine, tok.GetAccessToken())
	return err
}

// netrcMachine is the host name of a workspace URL, as curl compares it:
// no scheme, no port, IPv6 literals without brackets.
func netrcMachine(host string) (string, error) {
	u, err := url.Parse(host)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("the profile's host %q is not a URL", host)
	}
	if !netrcWord(u.Hostname()) {
		return "", fmt.Errorf("the profile's host %q cannot be written in netrc", host)
	}
	return u.Hostname(), nil
}

// netrcWord reports whether s can stand as one unquoted netrc token: netrc
// splits on whitespace, and some readers treat quotes and '#' specially.
func netrcWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`"'\#`, r) {
			return false
		}
	}
	return true
}
