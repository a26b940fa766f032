//go:build dbxcredtest

package helper

import (
	"fmt"
	"os"
)

// importCrashEnv is a test hook, compiled only into -tags dbxcredtest
// builds and read only by import: set to after-backup, after-login,
// after-temp-write or after-rename, dbx-cred exits with importCrashCode at
// that point, without any clean-up, the way kill -9 would, so end-to-end
// tests can prove that a crash at any step leaves the old file or the new
// one and every token in the file or the keyring. It shares its name with
// dbx-credd's hook; the points differ.
const (
	importCrashEnv  = "DBX_CRED_TEST_CRASH_AT"
	importCrashCode = 99
)

// crashAt implements the importCrashEnv test hook.
func (c *cli) crashAt(point string) {
	if c.io.Getenv(importCrashEnv) == point {
		fmt.Fprintf(c.io.Stderr, "dbx-cred: test hook %s=%s: exiting\n", importCrashEnv, point)
		// os.Exit runs no deferred calls, like the kill -9 it stands for.
		os.Exit(importCrashCode)
	}
}
