package helper

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dbx-cred/dbx-cred/helper/envfmt"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const completionHelp = `
Prints a script that makes SHELL complete dbx-cred's commands, flags and
profile names (these from the running dbx-credd, which completion never
starts). install/install.sh installs it where each shell looks; by hand:

  bash        dbx-cred completion bash > ~/.local/share/bash-completion/completions/dbx-cred
              (or: source <(dbx-cred completion bash) in ~/.bashrc)
  zsh         dbx-cred completion zsh > ~/.local/share/zsh/site-functions/_dbx-cred
              and in ~/.zshrc, before compinit:
              fpath=(~/.local/share/zsh/site-functions $fpath)
  fish        dbx-cred completion fish > ~/.config/fish/completions/dbx-cred.fish
  powershell  dbx-cred completion powershell | Out-String | Invoke-Expression
              (in your $PROFILE)

Exit status:
  0   success
  64  usage error`

// completionShells are the shells a script exists for.
func completionShells() []string { return []string{"bash", "zsh", "fish", "powershell"} }

func runCompletion(c *cli, args []string) error {
	fs := c.flags("completion", "bash|zsh|fish|powershell", completionHelp)
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err)
	}
	if fs.NArg() != 1 {
		return shortUsageErr("completion", "name one shell: bash, zsh, fish or powershell", "dbx-cred completion --help")
	}
	var script string
	switch fs.Arg(0) {
	case "bash":
		script = bashCompletion
	case "zsh":
		script = zshCompletion
	case "fish":
		script = fishCompletion
	case "powershell", "pwsh":
		script = powershellCompletion
	default:
		return shortUsageErr("completion", fmt.Sprintf("no completion for %q%s", fs.Arg(0), didYouMean(fs.Arg(0), completionShells())),
			"dbx-cred completion --help")
	}
	_, err := io.WriteString(c.io.Stdout, script)
	return err
}

// The scripts all ask "dbx-cred __complete WORD... CURRENT" (the words
// after dbx-cred, then the word being completed, maybe empty), which
// prints the candidates that start with CURRENT, one a line; the shell
// falls back to file names when there are none (exec's command, --config).

const bashCompletion = `# bash completion for dbx-cred: dbx-cred completion bash
_dbx_cred() {
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD-1}" "${COMP_WORDS[COMP_CWORD]}" 2>/dev/null))
}
complete -o default -F _dbx_cred dbx-cred
`

const zshCompletion = `#compdef dbx-cred
# zsh completion for dbx-cred: dbx-cred completion zsh
_dbx-cred() {
  local -a cands
  cands=(${(f)"$("${words[1]}" __complete "${(@)words[2,CURRENT-1]}" "${words[CURRENT]}" 2>/dev/null)"})
  if (( ${#cands} )); then
    compadd -- "${cands[@]}"
  else
    _files
  fi
}
# Autoloaded from fpath, this file is the function's body: define it, then
# complete. Sourced, register it.
if [ "$funcstack[1]" = "_dbx-cred" ]; then
  _dbx-cred "$@"
else
  compdef _dbx-cred dbx-cred
fi
`

const fishCompletion = `# fish completion for dbx-cred: dbx-cred completion fish
function __dbx_cred_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l cands (command $words[1] __complete-fish $words[2..-1] "$cur" 2>/dev/null)
    if test (count $cands) -gt 0
        printf '%s\n' $cands
    else
        __fish_complete_path "$cur"
    end
end
complete -c dbx-cred -f -a '(__dbx_cred_complete)'
`

// PowerShell before 7.3 drops an empty argument to a native command; '""'
// is how it passes one there.
const powershellCompletion = `# PowerShell completion for dbx-cred: dbx-cred completion powershell
Register-ArgumentCompleter -Native -CommandName 'dbx-cred', 'dbx-cred.exe' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $exe = $commandAst.CommandElements[0].ToString()
    $words = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -ne '' -and $words.Count -gt 0) { $words = @($words | Select-Object -SkipLast 1) }
    $cur = $wordToComplete
    if ($cur -eq '' -and $PSVersionTable.PSVersion -lt [version]'7.3') { $cur = '""' }
    & $exe __complete @words $cur 2>$null | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`

// profileNamesTimeout bounds the daemon call behind a Tab: a shell waiting
// on it is a frozen prompt.
const profileNamesTimeout = 700 * time.Millisecond

// runComplete answers the completion scripts. It never fails: a broken
// completion must not print errors into the user's command line.
func runComplete(c *cli, args []string) error { return c.complete(args, false) }

// runCompleteFish is runComplete with a description after a tab on each
// line, which fish shows beside the candidate.
func runCompleteFish(c *cli, args []string) error { return c.complete(args, true) }

func (c *cli) complete(args []string, described bool) error {
	if len(args) == 0 {
		args = []string{""}
	}
	words, cur := args[:len(args)-1], args[len(args)-1]
	prefix := ""
	// --flag=VALUE: complete the value, keep what precedes it.
	if strings.HasPrefix(cur, "--") && strings.Contains(cur, "=") {
		name, val, _ := strings.Cut(cur, "=")
		prefix, cur = name+"=", val
		words = append(append([]string{}, words...), name)
	}
	var describe func(string) string
	if described {
		describe = c.describer(words)
	}
	for _, cand := range c.candidates(words, cur) {
		if !strings.HasPrefix(cand, cur) {
			continue
		}
		if d := ""; describe != nil {
			if d = describe(cand); d != "" {
				fmt.Fprintf(c.io.Stdout, "%s%s\t%s\n", prefix, cand, d)
				continue
			}
		}
		fmt.Fprintln(c.io.Stdout, prefix+cand)
	}
	return nil
}

// describer says in a few words what a candidate after words is: a
// command's summary, a flag's usage. Others get none.
func (c *cli) describer(words []string) func(string) string {
	if len(words) == 0 {
		return func(cand string) string {
			if cmd, ok := findCommand(cand); ok {
				return shortDescription(cmd.summary)
			}
			return ""
		}
	}
	name := words[0]
	if name == "auth" && len(words) > 1 && words[1] == "token" {
		name = "auth token"
	}
	fs := c.flagsOf(name)
	return func(cand string) string {
		if fs == nil || !strings.HasPrefix(cand, "--") {
			return ""
		}
		f := fs.Lookup(strings.TrimPrefix(cand, "--"))
		if f == nil {
			return ""
		}
		_, usage := pflag.UnquoteUsage(f)
		return shortDescription(usage)
	}
}

// shortDescription is s cut to what fits beside a candidate: its first
// clause (up to ": ", "; " or " ("), at most 60 characters, on one line.
func shortDescription(s string) string {
	for _, sep := range []string{": ", "; ", " ("} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = strings.TrimSpace(s[:57]) + "..."
	}
	return s
}

// candidates lists what may come after words.
func (c *cli) candidates(words []string, cur string) []string {
	if len(words) == 0 {
		if strings.HasPrefix(cur, "-") {
			return globalFlagNames()
		}
		return commandNames()
	}
	name, sub := words[0], words[1:]
	switch name {
	case "help":
		if len(sub) == 0 {
			return commandNames()
		}
		if sub[0] == "auth" && len(sub) == 1 {
			return []string{"token"}
		}
		return nil
	case "completion":
		if len(sub) == 0 {
			return completionShells()
		}
		return nil
	case "auth":
		if len(sub) == 0 {
			return []string{"token"}
		}
		if sub[0] != "token" {
			return nil
		}
		name, sub = "auth token", sub[1:]
	}
	fs := c.flagsOf(name)
	if fs == nil {
		return nil
	}
	for _, w := range sub {
		if w == "--" {
			return nil // exec's command and its arguments: the shell's files
		}
	}
	if len(sub) > 0 {
		if f := lookupTyped(fs, sub[len(sub)-1]); f != nil && f.NoOptDefVal == "" {
			return c.flagValues(f)
		}
	}
	if strings.HasPrefix(cur, "-") {
		var names []string
		fs.VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, "--"+f.Name)
			}
		})
		return append(names, "--help")
	}
	if name == "git" {
		return []string{"get", "store", "erase"}
	}
	return nil
}

// flagsOf learns a command's flags by running it with --help, output
// discarded, and keeping the FlagSet it made (see cli.onFlags).
func (c *cli) flagsOf(name string) *pflag.FlagSet {
	args := []string{"--help"}
	cmdName := name
	if name == "auth token" {
		cmdName, args = "auth", []string{"token", "--help"}
	}
	cmd, ok := findCommand(cmdName)
	if !ok || cmdName == "help" || strings.HasPrefix(cmdName, "__") {
		return nil
	}
	var fs *pflag.FlagSet
	probe := &cli{
		io:  IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: c.io.Getenv, StdinFd: -1},
		cmd: cmdName, onFlags: func(f *pflag.FlagSet) { fs = f },
	}
	cmd.run(probe, args)
	return fs
}

// lookupTyped finds the flag a word names: --name or -x.
func lookupTyped(fs *pflag.FlagSet, word string) *pflag.Flag {
	switch {
	case strings.HasPrefix(word, "--") && len(word) > 2:
		return fs.Lookup(word[2:])
	case strings.HasPrefix(word, "-") && len(word) == 2:
		return fs.ShorthandLookup(word[1:])
	}
	return nil
}

// flagValues are the values a flag takes, where they are few or the
// daemon knows them; nil leaves it to the shell (file names).
func (c *cli) flagValues(f *pflag.Flag) []string {
	switch f.Name {
	case "profile":
		return c.profileNames()
	case "output":
		return []string{"text", "json"}
	case "mode":
		return []string{modeToken, modeMetadata}
	case "via":
		return []string{"metadata", "cli"}
	case "shell":
		return strings.Split(envfmt.Shells, ", ")
	case "format":
		return []string{"databrickscfg"}
	}
	return nil
}

// profileNames asks the daemon, if one runs, within profileNamesTimeout:
// completion never starts a daemon (a Tab press should not leave a
// process behind) and gives nothing rather than an error.
func (c *cli) profileNames() []string {
	ctx, cancel := within(profileNamesTimeout)
	defer cancel()
	// Nothing on stderr in the middle of a command line being completed.
	daemon := c.daemon(false)
	daemon.Waiting = nil
	resp, err := daemon.ListProfiles(ctx, &pb.ListProfilesRequest{})
	if err != nil {
		return nil
	}
	var names []string
	for _, p := range resp.GetProfiles() {
		names = append(names, p.GetName())
	}
	return names
}
