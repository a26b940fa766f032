package helper

import (
	"context"
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const logoutHelp = `
Deletes the profile's token from the OS keyring and forgets the profile. The
token itself stays valid in the workspace until it expires or you revoke it
there (User Settings > Developer > Access tokens).`

func runLogout(c *cli, args []string) error {
	fs := c.flags("logout", "[-p NAME]", logoutHelp)
	profile := c.profileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	err := c.call(30*time.Second, func(ctx context.Context, client agent) error {
		_, err := client.Logout(ctx, &pb.LogoutRequest{Profile: *profile})
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Logged out of profile %q: its token is deleted from the OS keyring.\n", *profile)
	return nil
}
