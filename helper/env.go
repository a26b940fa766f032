package helper

import (
	"fmt"

	"github.com/dbx-cred/dbx-cred/helper/envfmt"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const envHelp = `
Prints lines that export DATABRICKS_HOST and DATABRICKS_TOKEN for a profile,
quoted so that nothing in them can run as code. Evaluate them in your shell:

  eval "$(dbx-cred env -p prod)"                      # sh, bash, zsh
  dbx-cred env -p prod | source                       # fish
  dbx-cred env -p prod | Invoke-Expression            # PowerShell

The syntax is the one of the shell that runs dbx-cred (its parent
process); where that is no shell, POSIX; where it cannot be known, $SHELL's.
--shell chooses it.

With --mode metadata no token enters the environment: it exports
DATABRICKS_HOST, DATABRICKS_AUTH_TYPE=metadata-service and
DATABRICKS_METADATA_SERVICE_URL (the daemon's local endpoint for this
profile), and the SDKs, the Databricks CLI and Terraform fetch and refresh
the token there themselves:

  eval "$(dbx-cred env -p prod --mode metadata)" && databricks current-user me

Either mode also sets DATABRICKS_AUTH_TYPE and clears the other mode's
variables, so no stale credential wins.

--unset prints the lines that remove every variable either mode sets:

  eval "$(dbx-cred env --unset)"`

func runEnv(c *cli, args []string) error {
	fs := c.flags("env", "[-p NAME] [--mode token|metadata] [--shell SHELL] [--unset]", envHelp)
	profile := c.profileFlag(fs)
	shell := fs.String("shell", "", "output syntax, `SHELL`: "+envfmt.Shells+" (default: the shell that runs dbx-cred, else $SHELL)")
	unset := fs.Bool("unset", false, "print lines that unset the variables instead")
	mode := fs.String("mode", modeToken, modeUsage())
	if err := parse(fs, args); err != nil {
		return err
	}
	if *shell == "" {
		*shell = c.defaultShell()
	}
	sh, err := envfmt.ParseShell(*shell)
	if err != nil {
		return usageErr("--shell: %v", err)
	}
	if *unset {
		out, err := envfmt.Unset(sh, allClientVars())
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(c.io.Stdout, out)
		return err
	}
	if err := checkMode(*mode); err != nil {
		return err
	}
	vars, err := c.clientVars(*profile, *mode, pb.Channel_CHANNEL_ENV)
	if err != nil {
		return err
	}
	// Clear first, then set: the output's last status is the export's.
	unsetLines, err := envfmt.Unset(sh, vars.unset)
	if err != nil {
		return err
	}
	exports, err := envfmt.Export(sh, vars.set)
	if err != nil {
		return fmt.Errorf("format the export lines: %w", err)
	}
	_, err = fmt.Fprint(c.io.Stdout, unsetLines+exports)
	return err
}
