package helper

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const authHelp = `
Speaks the Databricks CLI's credential-process protocol, so the Databricks
SDKs (Go, Python, Java) and Terraform can get their token from dbx-cred
with auth_type = databricks-cli. The Databricks CLI itself does not: it
never runs databricks_cli_path but reads its own login cache, and fails
with "cache: no cached credentials". For a profile the CLI reads too, use
the metadata service (dbx-cred export -p NAME prints such a profile).
Point databricks_cli_path at dbx-cred in ~/.databrickscfg:

  [prod]
  host                = https://adb-123.azuredatabricks.net
  auth_type           = databricks-cli
  databricks_cli_path = /usr/local/bin/dbx-cred

(the section name is the dbx-cred profile; with DATABRICKS_HOST alone the
SDK asks by --host and dbx-cred finds the profile with that host). The SDK
runs "dbx-cred version" (the SDK for Python "dbx-cred version --output
json"), then:

  dbx-cred auth token --profile prod --force-refresh
  dbx-cred auth token --host https://adb-123.azuredatabricks.net

and reads JSON: access_token, token_type, expiry (RFC 3339, local time, with
fractional seconds) and expires_in (seconds).

The Databricks CLI's other auth commands, typed from habit, run dbx-cred's
own: auth login is login, auth logout is logout, auth profiles is list,
auth env is env (export lines, not the CLI's JSON), auth status is status.`

const authTokenHelp = `
Prints the profile's token as the Databricks CLI does:

  dbx-cred auth token -p prod
  {
    "access_token": "dapi...",
    "token_type": "Bearer",
    "expiry": "2026-06-01T12:34:56.123456+02:00",
    "expires_in": 3599
  }

--profile names the profile; --host (and --account-id) find it by workspace
host instead. A token that never expires (a static PAT) is reported as
expiring in one hour, so a long-running SDK client asks again every ~40
minutes and picks up a rotated or re-logged-in token; the token itself keeps
working after that time.

--force-refresh gets a new token when the current one is already inside the
window in which the SDK refreshes (the last min(lifetime/2, 20 min)).
Newer SDKs pass it on every call, so honouring it literally would mint a
workspace token for every SDK client that starts.`

// staticReportedLifetime is the expiry reported for tokens that never
// expire; see authTokenHelp.
const staticReportedLifetime = time.Hour

// sdkMaxRefreshLead mirrors databricks-sdk-go's cached token source: it
// refreshes min(TTL/2, 20 min) before expiry.
const sdkMaxRefreshLead = 20 * time.Minute

// authAlias is the dbx-cred command that does the job of a Databricks
// CLI auth command users type from habit; "" for none.
func authAlias(sub string) string {
	switch sub {
	case "login", "logout", "env", "status":
		return sub
	case "profiles":
		return "list"
	}
	return ""
}

func runAuth(c *cli, args []string) error {
	if len(args) > 0 && args[0] == "token" {
		return runAuthToken(c, args[1:])
	}
	if len(args) > 0 {
		if name := authAlias(args[0]); name != "" {
			cmd, _ := findCommand(name)
			c.cmd = name
			return cmd.run(c, args[1:])
		}
		if !strings.HasPrefix(args[0], "-") {
			return shortUsageErr("auth", fmt.Sprintf("unknown auth command %q: there is auth token, and dbx-cred's own login, logout, list, env, status", args[0]), "dbx-cred auth --help")
		}
	}
	fs := c.flags("auth", "token [flags]", authHelp)
	if err := parse(fs, args); err != nil {
		return err
	}
	return shortUsageErr("auth", "which auth command? auth token, or dbx-cred's own: login, logout, list, env, status", "dbx-cred auth --help")
}

// cliToken is the Databricks CLI's "auth token" JSON.
type cliToken struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Expiry      string `json:"expiry"`
	ExpiresIn   int64  `json:"expires_in"`
}

func runAuthToken(c *cli, args []string) error {
	fs := c.flags("auth token", "[--profile NAME | --host URL [--account-id ID]] [--force-refresh]", authTokenHelp)
	var profile, host string
	fs.StringVarP(&profile, "profile", "p", "", "profile `NAME` (default $DATABRICKS_CONFIG_PROFILE, else DEFAULT)")
	fs.StringVar(&host, "host", "", "find the profile by workspace `URL` instead")
	accountID := fs.String("account-id", "", "with --host: the account `ID`, for account-level profiles")
	force := fs.Bool("force-refresh", false, "renew the token if the SDK would refresh it now")
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	// The Databricks CLI also takes the host as an argument.
	if fs.NArg() == 1 && host == "" {
		host = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return shortUsageErr("auth token", fmt.Sprintf("unexpected argument %q", fs.Arg(0)), "dbx-cred auth token --help")
	}
	if profile != "" && host != "" {
		return usageErr("auth token: give --profile or --host, not both")
	}
	req := &pb.GetTokenRequest{Channel: pb.Channel_CHANNEL_CLI}
	switch {
	case host != "":
		req.Host, req.AccountId = host, *accountID
	case profile != "":
		req.Profile = profile
	default:
		req.Profile = c.io.Getenv("DATABRICKS_CONFIG_PROFILE")
		if req.Profile == "" {
			req.Profile = "DEFAULT"
		}
	}
	tok, err := c.fetchToken(req)
	if err != nil {
		return err
	}
	now := time.Now()
	if *force && dueForRefresh(tok, now) {
		req.ForceRefresh = true
		if tok, err = c.fetchToken(req); err != nil {
			return err
		}
	}
	out, err := json.MarshalIndent(cliTokenJSON(tok, now), "", "  ")
	if err != nil {
		return fmt.Errorf("auth token: encode the answer: %w", err)
	}
	_, err = fmt.Fprintf(c.io.Stdout, "%s\n", out)
	return err
}

// dueForRefresh reports whether tok is already inside the SDK's refresh
// window, so handing it out would make the SDK ask again at once.
func dueForRefresh(tok *pb.GetTokenResponse, now time.Time) bool {
	if tok.GetExpiry() == nil {
		return false
	}
	lead := sdkMaxRefreshLead
	if lt := tok.GetProfile().GetTokenLifetime(); lt != nil && lt.AsDuration() > 0 && lt.AsDuration()/2 < lead {
		lead = lt.AsDuration() / 2
	}
	return tok.GetExpiry().AsTime().Sub(now) <= lead
}

// cliTokenJSON renders tok the way the SDKs parse it. The expiry is local
// time with a numeric offset and six fractional digits: the Python SDK
// misreads "Z" and fails without a fraction, Go accepts either.
func cliTokenJSON(tok *pb.GetTokenResponse, now time.Time) cliToken {
	exp := now.Add(staticReportedLifetime)
	if e := tok.GetExpiry(); e != nil {
		exp = e.AsTime()
	}
	in := int64(exp.Sub(now) / time.Second)
	if in < 0 {
		in = 0
	}
	return cliToken{
		AccessToken: tok.GetAccessToken(),
		TokenType:   tokenType(tok),
		Expiry:      exp.Local().Format("2006-01-02T15:04:05.000000-07:00"),
		ExpiresIn:   in,
	}
}
