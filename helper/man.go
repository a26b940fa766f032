package helper

import (
	"io"
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/manpage"
	"github.com/dbx-cred/dbx-cred/internal/version"
)

// runMan writes dbx-cred(1), made from the same text as --help and each
// command's --help, so the two cannot disagree. install.sh and make
// install put it where man looks.
func runMan(c *cli, _ []string) error {
	var desc strings.Builder
	usage(&desc)
	var cmds []manpage.Section
	for _, cmd := range commands() {
		if cmd.name == "help" {
			continue
		}
		cmds = append(cmds, manpage.Section{Title: cmd.name, Body: c.helpOf(cmd, "--help")})
		if cmd.name == "auth" {
			cmds = append(cmds, manpage.Section{Title: "auth token", Body: c.helpOf(cmd, "token", "--help")})
		}
	}
	return manpage.Page{Name: "dbx-cred", Summary: "Databricks tokens from dbx-credd, for shells, git, curl and the SDKs", Version: version.Version,
		Sections: []manpage.Section{{Title: "DESCRIPTION", Body: desc.String()}, {Title: "COMMANDS", Sub: cmds}}}.Write(c.io.Stdout)
}

// helpOf is what cmd prints for args (its --help), run with nothing to
// read and nowhere else to write.
func (c *cli) helpOf(cmd command, args ...string) string {
	var out strings.Builder
	probe := &cli{io: IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: io.Discard, Getenv: c.io.Getenv, StdinFd: -1}, cmd: cmd.name}
	cmd.run(probe, args)
	return out.String()
}
