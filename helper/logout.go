package helper

import (
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const logoutHelp = `
Revokes every token dbx-cred created for the profile in the workspace (the
short-lived ones it minted, and a long-lived one that dbx-cred rotate made),
then deletes the profile's secret from the store and forgets the profile.
A token you pasted at login stays valid in the workspace: revoke it there
(User Settings > Developer > Access tokens) unless another tool uses it.

Secrets left in the store by a write whose outcome was unknown (listed by
dbx-cred status as orphaned) are deleted too, even when the profile itself
no longer exists.`

func runLogout(c *cli, args []string) error {
	fs := c.flags("logout", "[-p NAME]", logoutHelp)
	profile := c.profileFlag(fs)
	yes := fs.BoolP("yes", "y", false, "log out without asking (nothing asks when stdin is not a terminal)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.confirm(*yes, fmt.Sprintf("Log out of profile %s, revoking the tokens dbx-cred made for it and deleting its secret?", quoteArg(*profile))); err != nil {
		return err
	}
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).Logout(ctx, &pb.LogoutRequest{Profile: *profile})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Logged out of profile %q: its secret is deleted from the store.\n", *profile)
	defer c.warnStaleConfig(*profile)
	if n := len(resp.GetRevoked()); n > 0 {
		fmt.Fprintf(c.io.Stdout, "Revoked in the workspace (%d):\n", n)
		for _, r := range resp.GetRevoked() {
			fmt.Fprintf(c.io.Stdout, "  %s\n", r)
		}
	}
	if a := resp.GetAdvice(); a != "" {
		fmt.Fprintf(c.io.Stdout, "Note: %s\n", a)
	}
	return nil
}
