// Package helper is the dbx-cred command line: it parses flags, makes one
// call to dbx-credd over the private socket, and prints the answer in the
// format a tool wants (a bare token, shell exports, a table). It holds no
// secrets of its own and links neither the keyring nor the Databricks SDK.
package helper

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dbx-cred/dbx-cred/helper/termsafe"
	"github.com/dbx-cred/dbx-cred/internal/editdist"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/version"
)

// Exit codes: short names for internal/errkind's, which holds the one
// table of kinds and their codes (the usage text is made from it).
const (
	exitOK          = errkind.ExitOK
	exitFailure     = errkind.ExitFailure
	exitNoDaemon    = errkind.ExitNoDaemon
	exitNoProfile   = errkind.ExitNoProfile
	exitRejected    = errkind.ExitRejected
	exitKeyring     = errkind.ExitStore
	exitUnreachable = errkind.ExitUnreachable
	exitNotLent     = errkind.ExitNotLent
	exitUsage       = errkind.ExitUsage
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

// hiddenCommands are run like commands but not listed: the shells'
// completion scripts call __complete (fish, which shows descriptions,
// __complete-fish).
func hiddenCommands() []command {
	return []command{{"__complete", "", runComplete}, {"__complete-fish", "", runCompleteFish}, {"__man", "", runMan}}
}

// commands is built per call (not a package variable) and each command's
// whole story lives in its own file.
func commands() []command {
	return []command{
		{"login", "store a workspace token in the store: OS keyring, file or kernel keyring (read from a hidden prompt or stdin)", runLogin},
		{"token", "print a token for a profile, and nothing else", runToken},
		{"env", "print shell lines that export DATABRICKS_HOST and DATABRICKS_TOKEN (or a metadata URL)", runEnv},
		{"exec", "run a command with the profile's Databricks variables set", runExec},
		{"git", "git credential helper (git config credential.helper dbx-cred)", runGit},
		{"curl-config", "print a curl -K config with the token header", runCurlConfig},
		{"netrc", "print a netrc entry for curl --netrc-file", runNetrc},
		{"auth", "\"auth token\": the Databricks CLI's protocol, for databricks_cli_path", runAuth},
		{"list", "list profiles: name, host, user, state (never secrets)", runList},
		{"logout", "revoke every token dbx-cred made for a profile, then delete its secret", runLogout},
		{"metadata-url", "print the profile's metadata-service URL for SDKs (auth type metadata-service)", runMetadataURL},
		{"audit", "show the latest tokens handed out: when, profile, channel, process (never tokens)", runAudit},
		{"status", "show the daemon's state", runStatus},
		{"doctor", "check the daemon, the store, each profile, plaintext leftovers and git; name each fix", runDoctor},
		{"rotate", "replace a profile's stored token with a new one", runRotate},
		{"import", "move a .databrickscfg's tokens into the store and rewrite it to use dbx-cred", runImport},
		{"export", "print a .databrickscfg profile block that uses dbx-cred (no token)", runExport},
		{"unlock", "unlock the encrypted file store (passphrase from a hidden prompt or stdin)", runUnlock},
		{"lock", "lock the file store: the daemon forgets its key and every secret", runLock},
		{"proxy", "serve a local authenticating proxy on 127.0.0.1 for a profile (base URL tools, OpenAI clients)", runProxy},
		{"forward", "lend tokens for some profiles to an SSH host or a container through a restricted socket", runForward},
		{"ssh", "ssh to a host with tokens for some profiles forwarded (dbx-cred ssh -p NAME -- HOST)", runSSH},
		{"daemon", "stop, restart or describe the running dbx-credd, however it was started", runDaemon},
		{"store", "\"store migrate --to file|keyctl|os\": move every secret to another store", runStore},
		{"version", "print the version (--output json: the Databricks CLI's fields)", runVersion},
		{"completion", "print a bash, zsh, fish or powershell completion script", runCompletion},
		{"help", "show a command's help: dbx-cred help COMMAND", runHelp},
	}
}

const usageHead = `dbx-cred gives Databricks tools a token without ever writing it to disk.
Tokens live in a store (the OS keyring, an encrypted file or the kernel
keyring) held by the dbx-credd daemon; dbx-cred asks it
over a private socket and prints what the tool needs.

Usage:
  dbx-cred COMMAND [flags]
  dbx-cred help COMMAND
  dbx-cred --version

Commands:
`

const usageTail = `
Common flags:
  -p, --profile NAME     profile to use (default: $DATABRICKS_CONFIG_PROFILE, else DEFAULT)
  -o, --output FORMAT    text or json, where a command prints data (list, status, audit, doctor, version)
  -h, --help             the command's help, flags and exit status

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

%s
Every command's --help lists the ones it uses; exec exits with its command's.

Run "dbx-cred help COMMAND" (or "dbx-cred COMMAND --help") for a command's flags.
`

func usage(w io.Writer) {
	fmt.Fprint(w, usageHead)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, usageTail, errkind.ExitStatus())
}

// cli is one invocation's state.
type cli struct {
	io IO
	// cmd is the command being run, set once before it runs: errors that
	// start with its name are shown as "dbx-cred CMD: ...".
	cmd string
	// onFlags, when set, is given every FlagSet a command makes: shell
	// completion runs a command with --help to learn its flags this way,
	// so a new command's flags complete without any table to update.
	onFlags func(*pflag.FlagSet)
	// profileFlags holds the command's -p, once it has one: an unknown
	// profile's message says when the name came from the environment.
	profileFlags *pflag.FlagSet
}

// gitHelperName is what git runs for credential.helper "dbx-cred": it
// prefixes "git-credential-" to a helper name that is not a path or a
// "!" command. install.sh installs that name as a link to dbx-cred (a
// copy on Windows).
const gitHelperName = "git-credential-dbx-cred"

// MainNamed is Main for a process started as argv0: under git's name for
// it, dbx-cred is the git credential helper ("git-credential-dbx-cred -p
// prod get" is "dbx-cred git -p prod get").
func MainNamed(argv0 string, args []string, io IO) int {
	if programName(argv0) == gitHelperName {
		return Main(append([]string{"git"}, args...), io)
	}
	return Main(args, io)
}

// programName is argv0's last element without ".exe", whichever
// separator the OS used (git for Windows may pass either).
func programName(argv0 string) string {
	if i := strings.LastIndexAny(argv0, `/\`); i >= 0 {
		argv0 = argv0[i+1:]
	}
	if len(argv0) > 4 && strings.EqualFold(argv0[len(argv0)-4:], ".exe") {
		argv0 = argv0[:len(argv0)-4]
	}
	return argv0
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
	case "-h", "--help":
		usage(io.Stdout)
		return exitOK
	case "--version":
		// For people, as dbx-credd --version: the Databricks SDKs probe
		// "version", which keeps the shape they parse.
		fmt.Fprintf(io.Stdout, "dbx-cred %s (Databricks CLI credential protocol %s)\n", version.Version, cliProtocolVersion)
		return exitOK
	}
	c := &cli{io: io, cmd: name}
	if cmd, ok := findCommand(name); ok {
		if err := c.refuseUnlent(name, args[1:]); err != nil {
			return c.finish(err)
		}
		return c.finish(cmd.run(c, args[1:]))
	}
	if strings.HasPrefix(name, "-") {
		return c.finish(shortUsageErr("", fmt.Sprintf("unknown flag %s before the command%s", name, didYouMean(name, globalFlagNames())),
			"dbx-cred --help"))
	}
	return c.finish(unknownCommand(name))
}

// findCommand looks name up among the listed and the hidden commands.
func findCommand(name string) (command, bool) {
	for _, cmd := range append(commands(), hiddenCommands()...) {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var names []string
	for _, cmd := range commands() {
		names = append(names, cmd.name)
	}
	return names
}

// globalFlagNames are what may precede a command.
func globalFlagNames() []string { return []string{"--help", "--version"} }

func unknownCommand(name string) error {
	return shortUsageErr("", fmt.Sprintf("unknown command %q%s", name, didYouMean(name, commandNames())), "dbx-cred --help")
}

const helpHelp = `
Shows a command's help, the same as "dbx-cred COMMAND --help"; without a
command, the list of commands.

  dbx-cred help token
  dbx-cred help auth token`

func runHelp(c *cli, args []string) error {
	if len(args) == 0 {
		usage(c.io.Stdout)
		return nil
	}
	if args[0] == "-h" || args[0] == "--help" {
		fs := c.flags("help", "[COMMAND]", helpHelp)
		return parse(fs, args)
	}
	cmd, ok := findCommand(args[0])
	if !ok || cmd.name == "help" || strings.HasPrefix(cmd.name, "__") {
		return unknownCommand(args[0])
	}
	// "help auth token": the subcommand's words, then --help.
	rest := append(append([]string{}, args[1:]...), "--help")
	c.cmd = cmd.name
	return cmd.run(c, rest)
}

// finish prints err and picks the exit code. Messages often quote the
// daemon or the workspace, hence termsafe; newlines stay, as some of our
// own messages have several lines.
func (c *cli) finish(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	code, msg := exitCode(err), err.Error()
	var ee *exitError
	if errors.As(err, &ee) {
		msg = ee.msg
	}
	if c.profileFlags != nil && !c.profileFlags.Changed("profile") && errkind.Of(err) == errkind.NotFound {
		// The flags exist, so the environment was read for -p's default.
		env := c.io.Getenv("DATABRICKS_CONFIG_PROFILE")
		if env != "" {
			msg += fmt.Sprintf(" (no -p was given, so the name %q came from DATABRICKS_CONFIG_PROFILE)", env)
		}
	}
	if msg != "" {
		fmt.Fprintf(c.io.Stderr, "%s\n", termsafe.Text(c.prefix(msg)))
	}
	return code
}

// prefix names the program, and the command when the message starts with
// it: "dbx-cred exec: nosuchcmd: not found", as GNU tools and git do.
func (c *cli) prefix(msg string) string {
	if c.cmd != "" && (strings.HasPrefix(msg, c.cmd+": ") || strings.HasPrefix(msg, c.cmd+" ")) {
		return "dbx-cred " + msg
	}
	return "dbx-cred: " + msg
}

// exitCode is err's exit code: an *exitError's own, else its kind's
// (internal/errkind), which is how a failed call to the daemon exits.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return errkind.Of(err).Exit()
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

// shortUsageErr is a usage error of two lines: what is wrong (with a
// suggestion), and where the help is. cmd is the command's name, or ""
// for dbx-cred itself.
func shortUsageErr(cmd, what, help string) error {
	if cmd != "" {
		what = cmd + ": " + what
	}
	return &exitError{code: exitUsage, msg: fmt.Sprintf("%s\nRun '%s' for usage.", what, help)}
}

// flags returns a FlagSet for a command, with GNU-style flags (pflag): a
// one-letter flag after one dash, a word after two. Its Usage prints the
// command's help on stdout, as "--help" asks for it; parse errors are
// reported by parse, briefly.
func (c *cli) flags(name, synopsis, help string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("dbx-cred "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { printHelp(c.io.Stdout, fs, name, synopsis, help) }
	if c.onFlags != nil {
		c.onFlags(fs)
	}
	return fs
}

// standardExits is the "Exit status" of a command that talks to the
// daemon, for every command whose help does not give its own.
func standardExits() string { return "\n" + errkind.ExitStatus() }

func printHelp(w io.Writer, fs *pflag.FlagSet, name, synopsis, help string) {
	fmt.Fprintf(w, "Usage: dbx-cred %s %s\n\n%s\n\nFlags:\n%s", name, synopsis, strings.TrimSpace(help), flagLines(fs))
	if !strings.Contains(help, "Exit status:") {
		fmt.Fprintln(w, standardExits())
	}
}

// flagLines is pflag's flag list, GNU style: "-p, --profile NAME", a bare
// "--json" for a switch (pflag writes "--json[=true|false]"), and -h.
func flagLines(fs *pflag.FlagSet) string {
	type line struct{ left, desc string }
	lines := []line{}
	width := len("  -h, --help")
	for _, l := range strings.Split(strings.TrimRight(fs.FlagUsages(), "\n"), "\n") {
		if l == "" {
			continue
		}
		l = strings.Replace(l, "[=true|false]", "", 1)
		// pflag pads the flag part to one column with spaces, then the
		// description follows.
		left, desc := l, ""
		if i := strings.Index(strings.TrimLeft(l, " "), "   "); i >= 0 {
			i += len(l) - len(strings.TrimLeft(l, " "))
			left, desc = strings.TrimRight(l[:i], " "), strings.TrimLeft(l[i:], " ")
		}
		lines = append(lines, line{left, desc})
		width = max(width, len(left))
	}
	lines = append(lines, line{"  -h, --help", "show this help"})
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%-*s   %s\n", width, l.left, l.desc)
	}
	return b.String()
}

// profileFlag registers -p/--profile with its documented default.
func (c *cli) profileFlag(fs *pflag.FlagSet) *string {
	def := c.io.Getenv("DATABRICKS_CONFIG_PROFILE")
	if def == "" {
		def = "DEFAULT"
	}
	p := new(string)
	fs.StringVarP(p, "profile", "p", def, "profile `NAME` (default $DATABRICKS_CONFIG_PROFILE, else DEFAULT)")
	fs.Lookup("profile").DefValue = ""
	c.profileFlags = fs
	return p
}

// parse parses args and refuses positional arguments: secrets must never be
// passed on the command line, and a stray word is usually a mistake.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	if fs.NArg() > 0 {
		return shortUsageErr(commandOf(fs), fmt.Sprintf("unexpected argument %q", fs.Arg(0)), fs.Name()+" --help")
	}
	return nil
}

// commandOf is the command's name in "dbx-cred NAME".
func commandOf(fs *pflag.FlagSet) string { return strings.TrimPrefix(fs.Name(), "dbx-cred ") }

// flagError turns a parse failure into a short usage error: pflag's
// reason, a "did you mean" when a flag is close, and where the help is.
// --help is not an error: pflag has printed the help already.
func flagError(fs *pflag.FlagSet, err error) error {
	if errors.Is(err, pflag.ErrHelp) {
		return err
	}
	what := err.Error()
	var ne *pflag.NotExistError
	if errors.As(err, &ne) {
		typed := "--" + ne.GetSpecifiedName()
		if group := ne.GetSpecifiedShortnames(); group != "" {
			// "-json" is not a run of one-letter flags but --json mistyped.
			typed = "-" + group
			what = fmt.Sprintf("unknown flag -%s in %s", ne.GetSpecifiedName(), typed)
		} else {
			what = "unknown flag " + typed
		}
		var names []string
		fs.VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, "--"+f.Name)
			}
		})
		what += didYouMean(strings.TrimLeft(typed, "-"), names)
	}
	return shortUsageErr(commandOf(fs), what, fs.Name()+" --help")
}

// didYouMean suggests the candidate closest to typed, if any is close:
// within a third of its length in edits, or one it starts.
func didYouMean(typed string, candidates []string) string {
	best, bestD := "", 0
	bare := strings.TrimLeft(typed, "-")
	for _, cand := range candidates {
		cb := strings.TrimLeft(cand, "-")
		d := editdist.Distance(bare, cb)
		if strings.HasPrefix(cb, bare) && len(bare) >= 2 {
			d = min(d, 1)
		}
		if d <= max(1, len(cb)/3) && (best == "" || d < bestD) {
			best, bestD = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// output is the -o/--output flag of the commands that print data, and
// --json, its older spelling, kept for scripts.
type output struct {
	format formatValue
	json   bool
}

// outputFlag registers -o/--output FORMAT (text or json), the Databricks
// CLI's convention, and --json.
func (c *cli) outputFlag(fs *pflag.FlagSet) *output {
	o := &output{format: "text"}
	fs.VarP(&o.format, "output", "o", "output `FORMAT`: text or json")
	fs.BoolVar(&o.json, "json", false, "short for --output json")
	return o
}

// JSON reports whether JSON was asked for.
func (o *output) JSON() bool { return o.json || o.format == "json" }

// formatValue is an --output value, checked when it is set.
type formatValue string

func (f *formatValue) String() string { return string(*f) }
func (f *formatValue) Type() string   { return "FORMAT" }
func (f *formatValue) Set(v string) error {
	if v != "text" && v != "json" {
		return fmt.Errorf("use text or json")
	}
	*f = formatValue(v)
	return nil
}

// stdinIsTerminal reports whether Stdin is a terminal (for the hidden prompt).
func (c *cli) stdinIsTerminal() bool {
	return c.io.StdinFd >= 0 && isTerminal(c.io.StdinFd)
}
