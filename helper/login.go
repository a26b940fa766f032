package helper

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// loginWait bounds a login's validation: the daemon asks the workspace
// (SCIM Me, and a first token), which may be slow to answer.
const loginWait = 90 * time.Second

// patWhat names a personal access token in the prompt and messages.
const patWhat = "Personal access token"

const loginHelp = `
Logs a profile in to a workspace: dbx-credd checks the credential with the
workspace (and learns whose it is) and keeps it in its store. Three kinds:

Personal access token (the default). It is read from a hidden prompt when
stdin is a terminal, or from stdin when it is piped; never from the command
line, where it would land in shell history and the process list:

  dbx-cred login -p prod --host https://adb-123.azuredatabricks.net
  pass show databricks/prod | dbx-cred login -p prod --host adb-123.azuredatabricks.net

By default the stored token never leaves the daemon: clients get short-lived
tokens minted from it (Token API), renewed before they expire and revoked
when superseded. --token-lifetime sets their life (default 1h). Where the
workspace does not let you create tokens, --static serves the stored token
itself.

Your own OAuth login (U2M), in a browser, as "databricks auth login" does:

  dbx-cred login -p prod --host adb-123.azuredatabricks.net --oauth

dbx-credd starts the login (authorization code with PKCE, client
databricks-cli) and listens for the browser's redirect on localhost:8020
(or the next free port up to 8040) while it lasts, at most 5 minutes.
dbx-cred prints the URL to open, always, and opens it in $BROWSER if set
(a command, with arguments and %s for the URL if need be, or a
colon-separated list of them), else the system's browser. --no-browser
only prints it. Over SSH the redirect goes to localhost on this machine,
so dbx-cred also prints the port forward to run on the machine with the
browser first ("ssh -L 8020:localhost:8020 <this host>"), then open the
URL there. Ctrl-C cancels the login (exit 130). The daemon keeps the
refresh token, refreshes one at a time (they rotate), and serves OAuth
access tokens. --scopes narrows the login (default all-apis; offline_access
is always asked for). No token is read: --oauth with a token piped on
stdin, --client-id, --static or --token-lifetime is refused.

A service principal (OAuth M2M) logs in with --client-id, its application
id; its OAuth client secret is read like a token, from the prompt or stdin:

  dbx-cred login -p ci --host adb-123.azuredatabricks.net --client-id 1b2c...

The daemon checks it with a first access token and SCIM Me, keeps only the
secret in the store, and serves access tokens (client_credentials) to every
client, renewed before they expire. --static and --token-lifetime do not
apply.

A token you paste is yours: dbx-cred cannot know its expiry (the Token API
lists ids, never values), so it cannot renew it. --adopt replaces it at
once with a root token dbx-cred creates (as dbx-cred rotate does, for as
long as the workspace allows, up to 90 days), which dbx-cred then renews
by itself before it expires and revokes at logout; the pasted token stays
valid until you revoke it in the workspace (User Settings > Developer >
Access tokens). dbx-cred rotate -p NAME adopts it at any later time.
--no-auto-rotate keeps a root dbx-cred created until you rotate it yourself.

The host may omit https://, and an address copied from the browser is cut
to the workspace URL. An http:// host is refused unless it is this machine
(127.0.0.0/8, ::1, localhost: local emulators and proxies): over http://
the credential would cross the network unencrypted. --insecure-http allows
it anyway, if you really mean that.

Logging in to a profile that exists replaces its credential; at a terminal
dbx-cred asks first (--yes skips the question), and --host may be left out,
as the profile keeps its own. Nothing is asked for when the daemon's store
cannot keep a secret (none usable yet, or the file store locked).

Account level: with --account-id, a service principal (--client-id) or you
(--oauth) log in to the account console API instead of a workspace. --host
is then the accounts host (https://accounts.cloud.databricks.com, on Azure
https://accounts.azuredatabricks.net, or as given):

  dbx-cred login -p acct --host https://accounts.cloud.databricks.com \
    --account-id 0f1e... --client-id 1b2c...
  dbx-cred login -p acct --host https://accounts.cloud.databricks.com \
    --account-id 0f1e... --oauth

Tokens come from <host>/oidc/accounts/<account id>/v1/token and the login
is checked with the account's SCIM Me. PATs cannot be used at account
level, so --account-id needs --client-id or --oauth.

In CI, --federated SOURCE stores nothing: dbx-credd exchanges the CI
system's own ID token for each token it serves (workload identity
federation). SOURCE is github (GitHub Actions; the workflow needs
"permissions: id-token: write"), azure-devops, file:PATH (re-read at each
exchange, e.g. a Kubernetes projected service-account token) or env:NAME.
--client-id names the service principal of its federation policy (none
for an account-wide policy); --audience the JWT's audience (default: the
workspace's token endpoint, or the account id). See the README's "CI
without secrets".

Account profiles serve dbx-cred token, env and exec (which also export
DATABRICKS_ACCOUNT_ID), the SDKs' metadata-service hook, and their
databricks-cli hook (auth token --host HOST --account-id ID). How each SDK
client reaches them: docs/clients.md.

Exit status:
  0   success
  1   other error (the message says what went wrong)
  2   dbx-credd is not running and could not be started, or cannot be reached
  4   the workspace rejected the credential
  5   the store cannot be used: locked (dbx-cred unlock), no Secret Service, a keyring that does not answer
  6   the workspace cannot be reached
  64  usage error
  130 the browser login (--oauth) was cancelled with Ctrl-C`

func runLogin(c *cli, args []string) error {
	fs := c.flags("login", "[-p NAME] [--host URL] [--yes] [--adopt] [--oauth [--scopes S] [--no-browser] | --client-id ID] [--account-id ID]", loginHelp)
	profile := c.profileFlag(fs)
	host := fs.String("host", "", "workspace `URL`, e.g. https://adb-123.azuredatabricks.net (a browser address is cut to it); a profile logged in already keeps its own")
	static := fs.Bool("static", false, "serve the stored token itself instead of minting short-lived ones")
	lifetime := fs.Duration("token-lifetime", time.Hour, "`DURATION` minted tokens live, e.g. 30m (at least 10s)")
	insecure := fs.Bool("insecure-http", false, "allow an http:// host that is not this machine: the token crosses the network in clear")
	clientID := fs.String("client-id", "", "log in a service principal (OAuth M2M) by its application `ID`; its client secret is read from the prompt or stdin")
	accountID := fs.String("account-id", "", "with --client-id or --oauth: log in at account level, to the account with this `ID`; --host is the accounts host")
	oauth := fs.Bool("oauth", false, "log yourself in with OAuth (U2M) in a browser; no token is read")
	scopes := fs.StringSlice("scopes", nil, "with --oauth: the OAuth `SCOPES` to ask for, comma-separated (default all-apis; offline_access is always added)")
	noBrowser := fs.Bool("no-browser", false, "with --oauth: print the URL to open, start no browser")
	adopt := fs.Bool("adopt", false, "replace the pasted token at once with one dbx-cred creates, and so renews by itself")
	noAuto := fs.Bool("no-auto-rotate", false, "do not renew a token dbx-cred created before it expires (dbx-cred rotate does it by hand)")
	yes := fs.BoolP("yes", "y", false, "replace a logged-in profile's credential without asking (nothing asks when stdin is not a terminal)")
	federated := fs.String("federated", "", "workload identity federation from `SOURCE`: github, azure-devops, file:PATH or env:NAME; nothing is stored")
	audience := fs.String("audience", "", "with --federated: the `AUDIENCE` to ask the ID token for (default: the workspace's token endpoint, or the account id)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *federated != "" || fs.Changed("audience") {
		return c.loginFederated(fs, federatedLogin{profile: *profile, host: *host, source: *federated, audience: *audience,
			clientID: *clientID, accountID: *accountID, insecure: *insecure, yes: *yes})
	}
	if (*adopt || *noAuto) && (*oauth || *clientID != "") {
		return usageErr("--adopt and --no-auto-rotate are for personal access tokens: an OAuth login's refresh token is replaced at every refresh already, and a service principal's secret is replaced in the account console; leave them out")
	}
	if *oauth {
		if err := c.oauthLoginConflicts(fs); err != nil {
			return err
		}
	} else if fs.Changed("scopes") || fs.Changed("no-browser") {
		return usageErr("--scopes and --no-browser are for a browser login: add --oauth")
	}
	if *clientID != "" && (fs.Changed("static") || fs.Changed("token-lifetime")) {
		return usageErr("--static and --token-lifetime are for personal access tokens; a --client-id login always serves OAuth access tokens: leave them out")
	}
	if *accountID != "" && *clientID == "" && !*oauth {
		return usageErr("--account-id needs --client-id (a service principal) or --oauth (you, in a browser): PATs cannot be used at account level")
	}
	if *lifetime < 10*time.Second || *lifetime%time.Second != 0 {
		return usageErr("--token-lifetime %s: give whole seconds, at least 10s, e.g. --token-lifetime 30m", *lifetime)
	}
	pre, err := c.loginPreflight(*profile, *host, true)
	if err != nil {
		return err
	}
	*host = pre.host
	// Before the token is even read: a refused host never gets it, even
	// through a daemon too old to refuse it itself.
	if err := cleartextRefused(*host, *insecure); err != nil {
		return usageErr("%v", err)
	}
	if pre.replaces != nil {
		if err := c.confirm(*yes, fmt.Sprintf("Profile %q is logged in already (%s). Replace its credential?", *profile, describeProfile(pre.replaces))); err != nil {
			return err
		}
	}
	if *oauth {
		return c.loginOAuth(&pb.BeginOAuthLoginRequest{Profile: *profile, Host: *host, AccountId: *accountID,
			Scopes: *scopes, InsecureHttp: *insecure}, *noBrowser)
	}
	what := patWhat
	if *clientID != "" {
		what = "OAuth client secret of service principal " + *clientID
	}
	token, err := c.readSecret(what, *profile, *host)
	if err != nil {
		return err
	}
	ctx, cancel := within(loginWait)
	defer cancel()
	daemon := c.daemon(true)
	daemon.Waiting = c.waiting(fmt.Sprintf("to check the %s with %s (this login gives up after %s)", what, *host, loginWait))
	resp, err := daemon.Login(ctx, &pb.LoginRequest{Profile: *profile, Host: *host, Token: token,
		Static: *static, TokenLifetime: pb.NewDuration(*lifetime), InsecureHttp: *insecure, ClientId: *clientID, AccountId: *accountID,
		Adopt: *adopt, NoAutoRotate: *noAuto})
	if err != nil {
		return err
	}
	c.printLogin(resp)
	return nil
}

// oauthLoginConflicts refuses what a browser login cannot use, before the
// daemon is asked: a token on stdin would otherwise be silently ignored,
// and the user would believe it stored.
func (c *cli) oauthLoginConflicts(fs *pflag.FlagSet) error {
	switch {
	case fs.Changed("client-id"):
		return usageErr("--oauth and --client-id: --oauth logs you in in a browser, --client-id a service principal with its secret; pick one")
	case fs.Changed("static") || fs.Changed("token-lifetime"):
		return usageErr("--static and --token-lifetime are for personal access tokens; an --oauth login serves OAuth access tokens: leave them out")
	case c.stdinHasData():
		return usageErr("--oauth reads no token, but one was piped to stdin: drop the pipe for a browser login, " +
			"or leave out --oauth to store the piped personal access token")
	}
	return nil
}

// storeWords names the store a profile's secret went to, as its Store
// field says ("" from a dbx-credd that does not say).
func storeWords(p *pb.Profile) string {
	switch p.GetStore() {
	case "os":
		return "the OS keyring"
	case "file":
		return "dbx-credd's encrypted file store"
	case "keyctl":
		return "the kernel keyring (keyctl)"
	}
	return "dbx-credd's store"
}

// printLogin tells what was stored and how clients will be served, never
// the secret.
func (c *cli) printLogin(resp *pb.LoginResponse) {
	p := resp.GetProfile()
	verb := "Stored"
	if resp.GetReplaced() {
		verb = "Replaced"
	}
	where := printable(p.GetHost())
	if p.GetAccountId() != "" {
		where += " (account " + printable(p.GetAccountId()) + ")"
	}
	switch p.GetKind() {
	case pb.CredentialKind_CREDENTIAL_KIND_OIDC_FEDERATION:
		fmt.Fprintf(c.io.Stdout, "%s profile %q (%s): %s as %s; nothing is stored.\n", verb, printable(p.GetName()), kindLabel(profileKind(p), p.GetFederated()), where, printable(p.GetUserName()))
		fmt.Fprintln(c.io.Stdout, "Clients get OAuth access tokens, each exchanged for a fresh ID token from the source before the last expires.")
	case pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M:
		fmt.Fprintf(c.io.Stdout, "%s profile %q (%s): %s as %s; the refresh token is in %s.\n", verb, printable(p.GetName()), profileKind(p), where, printable(p.GetUserName()), storeWords(p))
		fmt.Fprintln(c.io.Stdout, "Clients get OAuth access tokens, refreshed before they expire; the refresh token never leaves the daemon.")
	case pb.CredentialKind_CREDENTIAL_KIND_OAUTH_M2M:
		fmt.Fprintf(c.io.Stdout, "%s profile %q: %s as service principal %s; the client secret is in %s.\n", verb, printable(p.GetName()), where, printable(p.GetUserName()), storeWords(p))
		fmt.Fprintln(c.io.Stdout, "Clients get OAuth access tokens, renewed before they expire; the secret never leaves the daemon.")
	default:
		fmt.Fprintf(c.io.Stdout, "%s profile %q: %s as %s; the token is in %s.\n", verb, printable(p.GetName()), printable(p.GetHost()), printable(p.GetUserName()), storeWords(p))
	}
	if p.GetMode() == pb.TokenMode_TOKEN_MODE_ROTATING {
		fmt.Fprintf(c.io.Stdout, "Clients get tokens that live %s, minted from it; it never leaves the daemon.\n", p.GetTokenLifetime().AsDuration())
	}
	if m := resp.GetAdoptMessage(); m != "" {
		fmt.Fprintf(c.io.Stdout, "Adopted: %s.\n", printable(m))
	}
	if p.GetKind() == pb.CredentialKind_CREDENTIAL_KIND_PAT {
		switch {
		case p.GetRootExpiry() == nil:
			fmt.Fprintf(c.io.Stdout, "dbx-cred cannot renew a token you pasted: let it create its own with dbx-cred rotate -p %s (or log in with --adopt).\n", quoteArg(p.GetName()))
		case p.GetNextRootRotation() != nil:
			fmt.Fprintf(c.io.Stdout, "The stored token expires %s; dbx-cred replaces it by itself at %s.\n",
				p.GetRootExpiry().AsTime().Local().Format(time.RFC3339), p.GetNextRootRotation().AsTime().Local().Format(time.RFC3339))
		default:
			fmt.Fprintf(c.io.Stdout, "The stored token expires %s; automatic rotation is off: dbx-cred rotate -p %s renews it.\n",
				p.GetRootExpiry().AsTime().Local().Format(time.RFC3339), quoteArg(p.GetName()))
		}
	}
	fmt.Fprintf(c.io.Stdout, "Try: dbx-cred token -p %s\n", quoteArg(p.GetName()))
}

// readSecret takes a secret (what names it at the prompt) from a hidden
// prompt or from piped stdin.
func (c *cli) readSecret(what, profile, host string) (string, error) {
	var raw []byte
	if c.stdinIsTerminal() {
		hint := ""
		if what == patWhat {
			hint = "; create one in the workspace under Settings > Developer > Access tokens"
		}
		fmt.Fprintf(c.io.Stderr, "%s for profile %q (%s%s): ", what, profile, host, hint)
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
