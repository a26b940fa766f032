package helper

import (
	"fmt"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const storeHelp = `
Moves every secret dbx-credd holds to another store:

  dbx-cred store migrate --to file      an age-encrypted file (asks for its
                                        passphrase; a new file asks twice)
  dbx-cred store migrate --to keyctl    the Linux kernel keyring
  dbx-cred store migrate --to os        the OS keyring

Each secret is copied and read back from the new store; then the registry
names the new store for every profile in one write; only then are the old
copies deleted. Interrupted at any point (even kill -9), every secret is
still in at least one store and the registry names a store holding them
all; run the command again to finish. dbx-credd started with --store auto
(the default) follows the registry at its next start.`

func runStore(c *cli, args []string) error {
	if len(args) == 0 || args[0] != "migrate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return parse(c.flags("store", "migrate --to file|keyctl|os", storeHelp), []string{"--help"})
		}
		return usageErr("store needs a subcommand: dbx-cred store migrate --to file|keyctl|os")
	}
	fs := c.flags("store migrate", "--to file|keyctl|os", storeHelp)
	to := fs.String("to", "", "the store to move to: file, keyctl or os")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch *to {
	case "file", "keyctl", "os":
	default:
		return usageErr("store migrate needs --to file, keyctl or os")
	}
	var pass string
	if *to == "file" {
		var err error
		if pass, err = c.readPassphrase(c.stdinIsTerminal(), "Passphrase of the dbx-cred file store"); err != nil {
			return err
		}
	}
	// Every secret is written and read back; a keyring answers in ms.
	ctx, cancel := within(5 * time.Minute)
	defer cancel()
	resp, err := c.daemon(true).MigrateStore(ctx, &pb.MigrateStoreRequest{To: *to, Passphrase: pass})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.io.Stdout, "Moved the secrets of %d profile(s) from the %s store to the %s store.\n", len(resp.GetMoved()), printable(resp.GetFrom()), printable(resp.GetTo()))
	if a := resp.GetAdvice(); a != "" {
		fmt.Fprintln(c.io.Stdout, printable(a))
	}
	return nil
}
