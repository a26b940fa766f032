package helper

import (
	"fmt"

	"github.com/dbx-cred/dbx-cred/helper/envfmt"
)

const envHelp = `
Prints lines that export DATABRICKS_HOST and DATABRICKS_TOKEN for a profile,
quoted so that nothing in them can run as code. Evaluate them in your shell:

  eval "$(dbx-cred env -p prod)"                      # sh, bash, zsh
  dbx-cred env -p prod --shell fish | source          # fish
  dbx-cred env -p prod --shell powershell | Invoke-Expression

--unset prints the lines that remove them again.`

// envNames are the variables env sets; --unset removes the same ones.
func envNames() []string { return []string{"DATABRICKS_HOST", "DATABRICKS_TOKEN"} }

func runEnv(c *cli, args []string) error {
	fs := c.flags("env", "[-p NAME] [--shell SHELL] [--unset]", envHelp)
	profile := c.profileFlag(fs)
	shell := fs.String("shell", "sh", "output syntax: "+envfmt.Shells)
	unset := fs.Bool("unset", false, "print lines that unset the variables instead")
	if err := parse(fs, args); err != nil {
		return err
	}
	sh, err := envfmt.ParseShell(*shell)
	if err != nil {
		return usageErr("--shell: %v", err)
	}
	if *unset {
		out, err := envfmt.Unset(sh, envNames())
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(c.io.Stdout, out)
		return err
	}
	tok, err := c.getToken(*profile)
	if err != nil {
		return err
	}
	out, err := envfmt.Export(sh, []envfmt.Var{
		{Name: "DATABRICKS_HOST", Value: tok.GetProfile().GetHost()},
		{Name: "DATABRICKS_TOKEN", Value: tok.GetAccessToken()},
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(c.io.Stdout, out)
	return err
}
