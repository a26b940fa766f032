// Package helper is the dbx-cred command line: it parses flags, makes one
// call to dbx-credd over the private socket, and prints the answer in the
// format a tool wants (a bare token, shell exports, a table). It holds no
// secrets of its own and links neither the keyring nor the Databricks SDK.
package helper

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dbx-cred/dbx-cred/helper/termsafe"
)

// Exit codes, documented in the usage text.
const (
	exitOK          = 0
	exitFailure     = 1
	exitNoDaemon    = 2
	exitNoProfile   = 3
	exitRejected    = 4
	exitKeyring     = 5
	exitUnreachable = 6
	exitUsage       = 64
)

// IO is the outside world of one invocation, so tests can run Main in process.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StdinFd is the descriptor behind Stdin, for the hidden prompt; -1 if none.
	StdinFd int
}

type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) error
}

// commands is built per call (not a package variable) and each command's
// whole story lives in its own file.
func commands() []command {
	return []command{
		{"login", "store a workspace token in the OS keyring (read from a hidden prompt or stdin)", runLogin},
		{"token", "print a token for a profile, and nothing else", runToken},
		{"env", "print shell lines that export DATABRICKS_HOST and DATABRICKS_TOKEN (or a metadata URL)", runEnv},
		{"exec", "run a command with the profile's Databricks variables set", runExec},
		{"git", "git credential helper: git config credential.helper '!dbx-cred git'", runGit},
		{"curl-config", "print a curl -K config with the token header", runCurlConfig},
		{"netrc", "print a netrc entry for curl --netrc-file", runNetrc},
		{"auth", "\"auth token\": the Databricks CLI's protocol, for databricks_cli_path", runAuth},
		{"list", "list profiles: name, host, user, state (never secrets)", runList},
		{"logout", "delete a profile and its token from the keyring", runLogout},
		{"metadata-url", "print the profile's metadata-service URL for SDKs (auth type metadata-service)", runMetadataURL},
		{"audit", "show the latest tokens handed out: when, profile, channel, process (never tokens)", runAudit},
		{"status", "show the daemon's state", runStatus},
		{"rotate", "replace a profile's stored token with a new one", runRotate},
		{"import", "move a .databrickscfg's tokens into the keyring and rewrite it to use dbx-cred", runImport},
		{"export", "print a .databrickscfg profile block that uses dbx-cred (no token)", runExport},
		{"unlock", "unlock the encrypted file store (passphrase from a hidden prompt or stdin)", runUnlock},
		{"lock", "lock the file store: the daemon forgets its key and every secret", runLock},
		{"daemon", "stop, restart or describe the running dbx-credd, however it was started", runDaemon},
		{"store", "\"store migrate --to file|keyctl|os\": move every secret to another store", runStore},
		{"version", "print the version", runVersion},
	}
}

const usageHead = `dbx-cred gives Databricks tools a token without ever writing it to disk.
Tokens live in the OS keyring, held by the dbx-credd daemon; dbx-cred asks it
over a private socket and prints what the tool needs.

Usage:
  dbx-cred <command> [flags]

Commands:
`

const usageTail = `
Common flags:
  -p, --profile NAME   profile to use (default: $DATABRICKS_CONFIG_PROFILE, else DEFAULT)

Examples:
  dbx-credd run &                                        # start the daemon
  dbx-cred login -p prod --host https://adb-123.azuredatabricks.net
  dbx-cred token -p prod                                 # prints the token
  eval "$(dbx-cred env -p prod)"                         # export it in this shell
  dbx-cred exec -p prod -- databricks current-user me     # or in one command's
  curl -K <(dbx-cred curl-config -p prod) https://adb-123.azuredatabricks.net/api/2.0/clusters/list
  dbx-cred list

Environment:
  DBX_CRED_SOCKET            the daemon's socket (default: $XDG_RUNTIME_DIR/dbx-cred/agent.sock,
                             else /run/user/<uid>/dbx-cred/agent.sock, else in the temp dir;
                             dbx-cred talks only to a server of your uid in a private directory)
  DATABRICKS_CONFIG_PROFILE  the default profile
  DBX_CRED_NO_AUTOSTART=1    do not start dbx-credd when it is not running (by
                             default dbx-cred starts "dbx-credd run", found next to
                             dbx-cred or on PATH, logging to
                             $XDG_STATE_HOME/dbx-cred/dbx-credd.log, or
                             ~/Library/Logs/dbx-cred/ on macOS, moved aside to
                             .1 at 8 MiB)

Exit status:
  0   success
  1   other error (the message says what went wrong)
  2   dbx-credd is not running and could not be started, or cannot be reached
  3   no such profile
  4   the workspace rejected the token: log in again
  5   the OS keyring cannot be used (locked, no Secret Service...)
  6   the workspace cannot be reached
  64  usage error

Run "dbx-cred <command> --help" for a command's flags.
`

func usage(w io.Writer) {
	fmt.Fprint(w, usageHead)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, usageTail)
}

// cli is one invocation's state.
type cli struct {
	io     IO
	socket string
	// noAutostart: this command reports on the daemon, so finding none is
	// its answer, not a reason to start one.
	noAutostart bool
}

// Main runs dbx-cred with args (without the program name) and returns the
// exit code.
func Main(args []string, io IO) int {
	if len(args) == 0 {
		usage(io.Stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help":
		usage(io.Stdout)
		return exitOK
	}
	c := &cli{io: io}
	for _, cmd := range commands() {
		if cmd.name == name {
			return c.finish(cmd.run(c, args[1:]))
		}
	}
	fmt.Fprintf(io.Stderr, "dbx-cred: unknown command %q\n\n", name)
	usage(io.Stderr)
	return exitUsage
}

// finish prints err and picks the exit code. Messages often quote the
// daemon or the workspace, hence termsafe; newlines stay, as some of our
// own messages have several lines.
func (c *cli) finish(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(c.io.Stderr, "dbx-cred: %s\n", termsafe.Text(ee.msg))
		}
		return ee.code
	}
	fmt.Fprintf(c.io.Stderr, "dbx-cred: %s\n", termsafe.Text(err.Error()))
	return exitFailure
}

// exitError carries a message and an exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

// flags returns a FlagSet for a command; usage prints the command's help.
func (c *cli) flags(name, synopsis, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("dbx-cred "+name, flag.ContinueOnError)
	fs.SetOutput(c.io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.io.Stderr, "Usage: dbx-cred %s %s\n\n%s\n", name, synopsis, strings.TrimSpace(help))
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		sort.Strings(names)
		if len(names) > 0 {
			fmt.Fprintln(c.io.Stderr, "\nFlags:")
			fs.VisitAll(func(f *flag.Flag) {
				dash := "--"
				if len(f.Name) == 1 {
					dash = "-"
				}
				fmt.Fprintf(c.io.Stderr, "  %s%s\t%s\n", dash, f.Name, f.Usage)
			})
		}
	}
	return fs
}

// profileFlag registers -p/--profile with its documented default.
func (c *cli) profileFlag(fs *flag.FlagSet) *string {
	def := c.io.Getenv("DATABRICKS_CONFIG_PROFILE")
	if def == "" {
		def = "DEFAULT"
	}
	p := new(string)
	fs.StringVar(p, "profile", def, "profile name (default $DATABRICKS_CONFIG_PROFILE, else DEFAULT)")
	fs.StringVar(p, "p", def, "short for --profile")
	return p
}

// parse parses args and refuses positional arguments: secrets must never be
// passed on the command line, and a stray word is usually a mistake.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage}
	}
	if fs.NArg() > 0 {
		return usageErr("%s: unexpected argument %q (see %s --help)", fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}

// stdinIsTerminal reports whether Stdin is a terminal (for the hidden prompt).
func (c *cli) stdinIsTerminal() bool {
	return c.io.StdinFd >= 0 && isTerminal(c.io.StdinFd)
}
