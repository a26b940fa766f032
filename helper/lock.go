package helper

import (
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const lockHelp = `
Locks the encrypted file store: dbx-credd forgets the key and every secret
it holds in memory, and stops serving tokens from it (profiles already in
use are unloaded) until dbx-cred unlock. Tokens already handed out keep
working until they expire.`

func runLock(c *cli, args []string) error {
	fs := c.flags("lock", "", lockHelp)
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := within(60 * time.Second)
	defer cancel()
	// No autostart: a daemon that is not running holds nothing.
	resp, err := c.daemon(false).Lock(ctx, &pb.LockRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Locked the file store %s: dbx-credd forgot its key and the secrets of %d loaded profile(s). dbx-cred unlock opens it again.\n",
		printable(storePath(resp.GetStore())), resp.GetUnloaded())
	return nil
}
