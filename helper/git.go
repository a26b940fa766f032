package helper

import (
	"fmt"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/gitcred"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const gitHelp = `
A git credential helper: git runs it with get, store or erase and talks
git's credential protocol on stdin/stdout (git-credential(1)). For "get" it
answers with the token of the profile whose host matches the URL git is
fetching, as username "token"; "store" and "erase" never write anything.

Set it up the way git names helpers (git runs "git-credential-dbx-cred",
which install/install.sh and "make install" put next to dbx-cred), for one
workspace host (recommended):

  git config --global credential.https://adb-123.azuredatabricks.net.helper dbx-cred

or for every host (it answers only for hosts of logged-in profiles and stays
silent for others, so later helpers still run):

  git config --global credential.helper dbx-cred

A git server that is not the workspace host itself (a proxy, a mirror), or
a host that several profiles share, gets a profile named explicitly, in a
per-URL section only, since with -p the token goes to whatever host git
asks for:

  git config --global credential.https://git.example.com.helper 'dbx-cred -p prod'

An empty value first ("git config --global credential.URL.helper ''")
keeps a dbx-cred set for every host from answering that URL before it.
'!dbx-cred git' (git runs the words after "!" as a command) works too,
without git-credential-dbx-cred. Add credential.useHttpPath=true only if
another helper needs the path; dbx-cred matches on protocol and host alone.

When the server rejects the token, git calls "erase"; dbx-cred then tells the
daemon, which stops serving that token and renews it.`

func runGit(c *cli, args []string) error {
	fs := c.flags("git", "[-p NAME] get|store|erase", gitHelp)
	profile := new(string)
	// No $DATABRICKS_CONFIG_PROFILE default: by default the host git asks
	// about picks the profile, so a token never goes to a host not its own.
	fs.StringVarP(profile, "profile", "p", "", "use profile `NAME` whatever the host (per-URL config only)")
	// Flags may come before or after the action: git runs
	// "git-credential-dbx-cred -p prod get", people type "dbx-cred git get -p prod".
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return shortUsageErr("git", "no action: git runs \"dbx-cred git get\"; set it up with: git config --global credential.helper dbx-cred", "dbx-cred git --help")
	}
	action := rest[0]
	if len(rest) > 1 {
		return shortUsageErr("git", fmt.Sprintf("unexpected argument %q", rest[1]), "dbx-cred git --help")
	}
	switch action {
	case "get", "store", "erase":
	default:
		// git-credential(1): helpers ignore operations they do not know.
		return nil
	}
	req, err := gitcred.Parse(c.io.Stdin)
	if err != nil {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("git %s: %v", action, err)}
	}
	target, ok := gitTarget(req, *profile)
	if !ok {
		return nil // not ours: stay silent so git asks the next helper
	}
	switch action {
	case "get":
		return c.gitGet(target)
	case "erase":
		return c.gitErase(target, req.Password)
	}
	// store: the daemon already holds the credential; git's copy is never
	// written anywhere.
	return nil
}

// gitTarget picks what to ask the daemon for. Only http(s) URLs can carry a
// Databricks token; anything else (ssh, a host that is not a valid host
// name) is not ours.
func gitTarget(req *gitcred.Request, profile string) (*pb.GetTokenRequest, bool) {
	proto := strings.ToLower(req.Protocol)
	if proto != "https" && proto != "http" {
		return nil, false
	}
	if profile != "" {
		return &pb.GetTokenRequest{Profile: profile, Channel: pb.Channel_CHANNEL_GIT}, true
	}
	if req.Host == "" {
		return nil, false
	}
	host, err := hosturl.Normalize(proto + "://" + req.Host)
	if err != nil {
		return nil, false
	}
	return &pb.GetTokenRequest{Host: host, Channel: pb.Channel_CHANNEL_GIT}, true
}

func (c *cli) gitGet(target *pb.GetTokenRequest) error {
	tok, err := c.fetchToken(target)
	if err != nil {
		if target.Host != "" && exitCode(err) == exitNoProfile {
			return nil // no profile for this host: let other helpers answer
		}
		if target.Host != "" && exitCode(err) == exitUsage {
			if shared := c.profilesOfHost(target.Host); len(shared) > 1 {
				return sharedHostErr(target.Host, shared)
			}
		}
		return err
	}
	ans := gitcred.Answer{Username: "token", Password: tok.GetAccessToken()}
	if exp := tok.GetExpiry(); exp != nil {
		// git (2.41+) drops a credential past this time instead of sending it.
		ans.PasswordExpiryUTC = exp.AsTime().Unix()
	}
	if err := ans.Write(c.io.Stdout); err != nil {
		return fmt.Errorf("git get: answer git: %w", err)
	}
	return nil
}

// profilesOfHost lists the profiles whose host is host (normalised, as
// the daemon stores it); nil when the daemon cannot say. Only asked on the
// error path, so a normal "get" stays one call.
func (c *cli) profilesOfHost(host string) []string {
	list, err := c.listProfiles()
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range list {
		if p.GetHost() == host {
			names = append(names, p.GetName())
		}
	}
	return names
}

// sharedHostErr is the answer when git names a host that several profiles
// share: the git config lines that pick one for that URL. The empty value
// first drops a dbx-cred set for every host, which would otherwise answer
// first and fail the same way.
func sharedHostErr(host string, profiles []string) error {
	key := "credential." + host + ".helper"
	return &exitError{code: exitUsage, msg: fmt.Sprintf("git: several profiles use host %s (%s); choose one for it:\n"+
		"  git config --global %s ''\n"+
		"  git config --global --add %s \"dbx-cred -p %s\"",
		host, strings.Join(profiles, ", "), key, key, quoteArg(profiles[0]))}
}

// gitErase reports the rejected token so the daemon renews it. A daemon
// without ReportRejected, or a host with no profile, is not an error worth
// showing on every failed push.
func (c *cli) gitErase(target *pb.GetTokenRequest, password string) error {
	if password == "" {
		return nil
	}
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	_, err := c.daemon(true).ReportRejected(ctx, &pb.ReportRejectedRequest{
		Profile: target.GetProfile(), Host: target.GetHost(), AccessToken: password,
	})
	switch errkind.Of(err) {
	case errkind.Unsupported, errkind.NotFound:
		return nil
	}
	if err != nil {
		return fmt.Errorf("git erase: tell dbx-credd the token was rejected: %w", err)
	}
	return nil
}
