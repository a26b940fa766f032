package helper

import (
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const rotateHelp = `
Replaces the profile's stored long-lived token: the daemon creates a new one
with it (as long-lived as the old one when dbx-cred created that, else 90
days; within the workspace's maximum lifetime either way), checks that it
works, stores it in the keyring, and revokes the old one when dbx-cred
created it. A token you pasted at login was not created by dbx-cred, so
you are told to revoke it yourself.

The daemon does the same by itself for tokens it created, before they
expire (at 80% of their life, or 7 days before expiry if sooner), unless
the profile logged in with --no-auto-rotate. Rotating a pasted token once
is what lets it do so.

  dbx-cred rotate -p prod`

func runRotate(c *cli, args []string) error {
	fs := c.flags("rotate", "[-p NAME]", rotateHelp)
	profile := c.profileFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := within(90 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).Rotate(ctx, &pb.RotateRequest{Profile: *profile})
	if err != nil {
		return err
	}
	exp := "never"
	if e := resp.GetProfile().GetRootExpiry(); e != nil {
		exp = e.AsTime().Local().Format(time.RFC3339)
	}
	fmt.Fprintf(c.io.Stdout, "Rotated the stored token of profile %q (new one expires %s); %s.\n", *profile, exp, printable(resp.GetMessage()))
	return nil
}
