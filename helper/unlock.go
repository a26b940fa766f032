package helper

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const unlockHelp = `
Unlocks the encrypted file store (dbx-credd run --store file): dbx-credd
starts locked, and every call that needs a secret fails at once with
"locked: run dbx-cred unlock" until this hands it the passphrase, once per
daemon start.

The passphrase is read from a hidden prompt when stdin is a terminal, or
from stdin when it is piped; never from the command line:

  dbx-cred unlock
  pass show dbx-cred | dbx-cred unlock

The first unlock, when there is no file yet, creates it; at a terminal it
asks twice. A wrong passphrase changes nothing and exits 5. The passphrase
goes to dbx-credd over its private socket and nowhere else; dbx-credd keeps
only the key derived from it, in memory, until dbx-cred lock or its exit.`

func runUnlock(c *cli, args []string) error {
	fs := c.flags("unlock", "", unlockHelp)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := c.storeStatus()
	if err != nil {
		return err
	}
	if st.GetName() != "file" {
		return &exitError{code: exitKeyring, msg: notFileStore(st, "unlock")}
	}
	create := !st.GetExists()
	pass, err := c.readPassphrase(create, "Passphrase of the dbx-cred file store")
	if err != nil {
		return err
	}
	// scrypt takes about a second by design; the rest is headroom.
	ctx, cancel := within(60 * time.Second)
	defer cancel()
	resp, err := c.daemon(true).Unlock(ctx, &pb.UnlockRequest{Passphrase: pass, Create: create})
	if err != nil {
		return err
	}
	verb := "Unlocked"
	if resp.GetCreated() {
		verb = "Created and unlocked"
	}
	fmt.Fprintf(c.io.Stdout, "%s the file store %s; dbx-credd keeps it open until dbx-cred lock or its exit.\n", verb, printable(storePath(resp.GetStore())))
	return nil
}

// storeStatus asks the daemon which store it uses.
func (c *cli) storeStatus() (*pb.StoreStatus, error) {
	ctx, cancel := within(10 * time.Second)
	defer cancel()
	r, err := c.daemon(true).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return nil, err
	}
	if r.GetStore() == nil {
		return nil, &exitError{code: exitFailure, msg: "this dbx-credd is older than dbx-cred and has no store choice: dbx-cred daemon restart"}
	}
	return r.GetStore(), nil
}

func notFileStore(st *pb.StoreStatus, op string) string {
	if st.GetName() == "" {
		return fmt.Sprintf("there is nothing to %s: dbx-credd has no store yet.\n%s", op, st.GetNote())
	}
	// Not a restart with another store: the new daemon would not start,
	// as its profiles live in this one. A migration moves them.
	return fmt.Sprintf("there is nothing to %s: dbx-credd keeps secrets in the %s store, which has no passphrase. "+
		"To keep them in the passphrase-protected file store instead, move them there: dbx-cred store migrate --to file", op, st.GetName())
}

func storePath(st *pb.StoreStatus) string {
	b := st.GetBackend()
	if i, j := strings.Index(b, "("), strings.LastIndex(b, ")"); i >= 0 && j > i {
		return b[i+1 : j]
	}
	return b
}

// readPassphrase reads a passphrase the way login reads a token: a
// hidden prompt at a terminal (twice when confirm is set), else one line
// of stdin.
// minNewPassphrase is the file store's minimum for a new passphrase
// (daemon/store/file.MinPassphrase, which the helper does not link): said
// before a second prompt, not after.
const minNewPassphrase = 8

func (c *cli) readPassphrase(confirm bool, prompt string) (string, error) {
	if !c.stdinIsTerminal() {
		line, err := bufio.NewReader(io.LimitReader(c.io.Stdin, 4<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", fmt.Errorf("read the passphrase from stdin: %w", err)
		}
		p := strings.TrimRight(line, "\r\n")
		if p == "" {
			return "", usageErr("no passphrase given: type it at the prompt, or pipe it on stdin")
		}
		return p, nil
	}
	ask := func(label string) (string, error) {
		fmt.Fprintf(c.io.Stderr, "%s: ", label)
		b, err := readHidden(c.io.StdinFd)
		fmt.Fprintln(c.io.Stderr)
		if err != nil {
			return "", fmt.Errorf("read the passphrase from the terminal: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	label := prompt
	if confirm {
		label = "New " + strings.ToLower(prompt[:1]) + prompt[1:] + " (at least 8 characters)"
	}
	p, err := ask(label)
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", usageErr("no passphrase given")
	}
	if confirm && len(p) < minNewPassphrase {
		return "", usageErr("the passphrase is too short: a new file store needs at least %d characters; nothing was created", minNewPassphrase)
	}
	if confirm {
		again, err := ask("Again, to confirm")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", usageErr("the two passphrases differ: nothing was created; run dbx-cred unlock again")
		}
	}
	return p, nil
}
