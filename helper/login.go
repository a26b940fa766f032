package helper

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const loginHelp = `
Stores a personal access token for a workspace in the OS keyring, after
checking with the workspace that it works (and learning whose it is).

The token is read from a hidden prompt when stdin is a terminal, or from
stdin when it is piped; never from the command line, where it would land in
shell history and the process list:

  dbx-cred login -p prod --host https://adb-123.azuredatabricks.net
  pass show databricks/prod | dbx-cred login -p prod --host adb-123.azuredatabricks.net

The host may omit https://. An http:// host is refused unless it is this
machine (127.0.0.0/8, ::1, localhost: local emulators and proxies): over
http:// the token would cross the network unencrypted. --insecure-http
allows it anyway, if you really mean that.
Logging in to an existing profile replaces its token.

By default the stored token never leaves the daemon: clients get short-lived
tokens minted from it (Token API), renewed before they expire and revoked
when superseded. --token-lifetime sets their life (default 1h). Where the
workspace does not let you create tokens, --static serves the stored token
itself.

A service principal (OAuth M2M) logs in with --client-id, its application
id; its OAuth client secret is read like a token, from the prompt or stdin:

  dbx-cred login -p ci --host adb-123.azuredatabricks.net --client-id 1b2c...

The daemon checks it with a first access token and SCIM Me, keeps only the
secret in the store, and serves access tokens (client_credentials) to every
client, renewed before they expire. --static and --token-lifetime do not
apply.

Account level: with --account-id, a service principal logs in to the
account console API instead of a workspace. --host is then the accounts
host (https://accounts.cloud.databricks.com, on Azure
https://accounts.azuredatabricks.net, or as given):

  dbx-cred login -p acct --host https://accounts.cloud.databricks.com \
    --account-id 0f1e... --client-id 1b2c...

Access tokens come from <host>/oidc/accounts/<account id>/v1/token and the
login is checked with the account's SCIM Me. PATs cannot be used at account
level, so --account-id needs --client-id.

Which hooks serve account profiles: dbx-cred token, env and exec (which
also export DATABRICKS_ACCOUNT_ID), and the databricks-cli hook (the SDKs
run "auth token --host <accounts host> --account-id ID", which finds the
profile by both). The metadata-service hook works too: the Go SDK's
metadata-service credentials (v0.175.0) check only that the URL is on
localhost and send the host in X-Databricks-Host, with no workspace-only
check, so an account client configured with host, account_id and
metadata_service_url gets the profile's tokens.`

func runLogin(c *cli, args []string) error {
	fs := c.flags("login", "[-p NAME] --host URL", loginHelp)
	profile := c.profileFlag(fs)
	host := fs.String("host", "", "workspace `URL`, e.g. https://adb-123.azuredatabricks.net")
	static := fs.Bool("static", false, "serve the stored token itself instead of minting short-lived ones")
	lifetime := fs.Duration("token-lifetime", time.Hour, "`DURATION` minted tokens live, e.g. 30m (at least 10s)")
	insecure := fs.Bool("insecure-http", false, "allow an http:// host that is not this machine: the token crosses the network in clear")
	clientID := fs.String("client-id", "", "log in a service principal (OAuth M2M) by its application `ID`; its client secret is read from the prompt or stdin")
	accountID := fs.String("account-id", "", "with --client-id: log in at account level, to the account with this `ID`; --host is the accounts host")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clientID != "" && (fs.Changed("static") || fs.Changed("token-lifetime")) {
		return usageErr("--static and --token-lifetime are for personal access tokens; a --client-id login always serves OAuth access tokens: leave them out")
	}
	if *accountID != "" && *clientID == "" {
		return usageErr("--account-id needs --client-id: account-level logins are service principal (OAuth M2M) logins; PATs cannot be used at account level")
	}
	if *lifetime < 10*time.Second || *lifetime%time.Second != 0 {
		return usageErr("--token-lifetime %s: give whole seconds, at least 10s, e.g. --token-lifetime 30m", *lifetime)
	}
	if *host == "" {
		return usageErr("login needs --host, the workspace URL, e.g. --host https://adb-1234567890123456.7.azuredatabricks.net")
	}
	// Before the token is even read: a refused host never gets it, even
	// through a daemon too old to refuse it itself.
	if err := cleartextRefused(*host, *insecure); err != nil {
		return usageErr("%v", err)
	}
	what := "Personal access token"
	if *clientID != "" {
		what = "OAuth client secret of service principal " + *clientID
	}
	token, err := c.readSecret(what, *profile, *host)
	if err != nil {
		return err
	}
	var resp *pb.LoginResponse
	// Validation talks to the workspace, which may be slow to answer.
	err = c.call(90*time.Second, func(ctx context.Context, client agent) error {
		var err error
		resp, err = client.Login(ctx, &pb.LoginRequest{Profile: *profile, Host: *host, Token: token,
			Static: *static, TokenLifetime: durationpb.New(*lifetime), InsecureHttp: *insecure, ClientId: *clientID, AccountId: *accountID})
		return err
	})
	if err != nil {
		return err
	}
	p := resp.GetProfile()
	verb := "Stored"
	if resp.GetReplaced() {
		verb = "Replaced"
	}
	if p.GetKind() == pb.CredentialKind_CREDENTIAL_KIND_OAUTH_M2M {
		where := printable(p.GetHost())
		if p.GetAccountId() != "" {
			where += " (account " + printable(p.GetAccountId()) + ")"
		}
		fmt.Fprintf(c.io.Stdout, "%s profile %q: %s as service principal %s; the client secret is in the store.\n", verb, printable(p.GetName()), where, printable(p.GetUserName()))
		fmt.Fprintln(c.io.Stdout, "Clients get OAuth access tokens, renewed before they expire; the secret never leaves the daemon.")
	} else {
		fmt.Fprintf(c.io.Stdout, "%s profile %q: %s as %s; the token is in the OS keyring.\n", verb, printable(p.GetName()), printable(p.GetHost()), printable(p.GetUserName()))
	}
	if p.GetMode() == pb.TokenMode_TOKEN_MODE_ROTATING {
		fmt.Fprintf(c.io.Stdout, "Clients get tokens that live %s, minted from it; it never leaves the daemon.\n", p.GetTokenLifetime().AsDuration())
	}
	fmt.Fprintf(c.io.Stdout, "Try: dbx-cred token -p %s\n", quoteArg(p.GetName()))
	return nil
}

// readSecret takes a secret (what names it at the prompt) from a hidden
// prompt or from piped stdin.
func (c *cli) readSecret(what, profile, host string) (string, error) {
	var raw []byte
	if c.stdinIsTerminal() {
		fmt.Fprintf(c.io.Stderr, "%s for profile %q (%s): ", what, profile, host)
		b, err := readHidden(c.io.StdinFd)
		fmt.Fprintln(c.io.Stderr)
		if err != nil {
			return "", fmt.Errorf("read the token from the terminal: %w", err)
		}
		raw = b
	} else {
		// One line is enough; the limit keeps a mistaken pipe of a large
		// file from being sent anywhere.
		line, err := bufio.NewReader(io.LimitReader(c.io.Stdin, 16<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the token from stdin: %w", err)
		}
		raw = []byte(line)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", usageErr("no token given: paste it at the prompt, or pipe it on stdin (echo \"$TOKEN\" | dbx-cred login ...)")
	}
	return token, nil
}

// quoteArg quotes a profile name for a command suggestion, only when needed.
func quoteArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cleartextRefused applies hosturl.CheckTransport, the rule the daemon
// applies too, to a host as typed. A host that does not normalise is left
// to the daemon, whose message about it comes from the same package.
func cleartextRefused(host string, insecure bool) error {
	norm, err := hosturl.Normalize(host)
	if err != nil {
		return nil
	}
	return hosturl.CheckTransport(norm, insecure)
}
