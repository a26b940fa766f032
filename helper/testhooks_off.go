//go:build !dbxcredtest

package helper

// crashAt is import's crash test hook; a release build has none, so nothing
// in a user's environment can make dbx-cred exit half-way on purpose
// (testhooks_on.go has it, for binaries built with -tags dbxcredtest).
func (c *cli) crashAt(string) {}
