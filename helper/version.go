package helper

import (
	"fmt"

	"github.com/dbx-cred/dbx-cred/internal/version"
)

func runVersion(c *cli, args []string) error {
	fs := c.flags("version", "", "Prints the version of dbx-cred.")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.io.Stdout, "dbx-cred %s\n", version.Version)
	return err
}
