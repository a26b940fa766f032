// Command dbx-cred is the thin helper that asks dbx-credd for Databricks
// tokens and prints them in the form a tool needs.
package main

import (
	"os"

	"github.com/dbx-cred/dbx-cred/helper"
)

func main() {
	os.Exit(helper.Main(os.Args[1:], helper.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, StdinFd: int(os.Stdin.Fd()),
	}))
}
