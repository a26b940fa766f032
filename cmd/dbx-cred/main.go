// Command dbx-cred is the thin helper that asks dbx-credd for Databricks
// tokens and prints them in the form a tool needs.
package main

import (
	"os"

	"github.com/dbx-cred/dbx-cred/helper"
)

// main passes argv[0] on: installed as git-credential-dbx-cred (git's name
// for the helper "dbx-cred"), the same binary answers as "dbx-cred git".
func main() {
	os.Exit(helper.MainNamed(os.Args[0], os.Args[1:], helper.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, StdinFd: int(os.Stdin.Fd()),
	}))
}
