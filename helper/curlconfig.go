package helper

import (
	"fmt"
	"strings"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const curlConfigHelp = `
Prints a curl config (curl -K) that sends the profile's token as a header.
Read it through a process substitution, so the token is in neither curl's
argv (visible in ps) nor a file:

  curl -K <(dbx-cred curl-config -p prod) \
    https://adb-123.azuredatabricks.net/api/2.0/preview/scim/v2/Me

Other curl options can follow in the same command or in further -K files.
See also "dbx-cred netrc" for curl --netrc-file.`

func runCurlConfig(c *cli, args []string) error {
	fs := c.flags("curl-config", "[-p NAME]", curlConfigHelp)
	profile := c.profileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	tok, err := c.fetchToken(&pb.GetTokenRequest{Profile: *profile, Channel: pb.Channel_CHANNEL_CURL})
	if err != nil {
		return err
	}
	value, err := curlQuote("Authorization: " + tokenType(tok) + " " + tok.GetAccessToken())
	if err != nil {
		return fmt.Errorf("curl-config: %w", err)
	}
	_, err = fmt.Fprintf(c.io.Stdout, "header = %s\n", value)
	return err
}

// tokenType is the Authorization scheme; the proto promises "Bearer" but an
// empty field from an older daemon must not produce a broken header.
func tokenType(tok *pb.GetTokenResponse) string {
	if t := tok.GetTokenType(); t != "" {
		return t
	}
	return "Bearer"
}

// curlQuote writes s as a double-quoted curl config parameter, in which
// curl reads \\ and \" as escapes. Control characters are refused, not
// escaped: a line break in a header value is header injection.
func curlQuote(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return "", fmt.Errorf("the header value contains a control character, which a header cannot carry")
		case r == '"' || r == '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String(), nil
}
