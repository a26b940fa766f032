package helper

import (
	"fmt"

	"github.com/spf13/pflag"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// federatedLogin is login --federated's flags.
type federatedLogin struct {
	profile, host, source, audience, clientID, accountID string
	insecure, yes                                        bool
}

// loginFederated logs a profile in with workload identity federation:
// nothing is read or stored; dbx-credd asks the source for an ID token
// and exchanges it once to check the set-up.
func (c *cli) loginFederated(fs *pflag.FlagSet, l federatedLogin) error {
	for _, f := range []string{"oauth", "static", "token-lifetime", "adopt", "no-auto-rotate", "scopes", "no-browser"} {
		if fs.Changed(f) {
			return usageErr("--%s does not go with --federated: a federated profile serves OAuth access tokens exchanged for ID tokens, and stores nothing", f)
		}
	}
	if l.source == "" {
		return usageErr("--audience goes with --federated SOURCE (github, azure-devops, file:PATH or env:NAME)")
	}
	if c.stdinHasData() {
		return usageErr("--federated reads no secret, but something was piped to stdin: drop the pipe")
	}
	pre, err := c.loginPreflight(l.profile, l.host, false)
	if err != nil {
		return err
	}
	if err := cleartextRefused(pre.host, l.insecure); err != nil {
		return usageErr("%v", err)
	}
	if pre.replaces != nil {
		if err := c.confirm(l.yes, fmt.Sprintf("Profile %q is logged in already (%s). Replace its credential?", l.profile, describeProfile(pre.replaces))); err != nil {
			return err
		}
	}
	ctx, cancel := within(loginWait)
	defer cancel()
	daemon := c.daemon(true)
	daemon.Waiting = c.waiting(fmt.Sprintf("to exchange an ID token from %s with %s (this login gives up after %s)", l.source, pre.host, loginWait))
	resp, err := daemon.Login(ctx, &pb.LoginRequest{Profile: l.profile, Host: pre.host, Federated: l.source, Audience: l.audience,
		ClientId: l.clientID, AccountId: l.accountID, InsecureHttp: l.insecure})
	if err != nil {
		return err
	}
	c.printLogin(resp)
	return nil
}
