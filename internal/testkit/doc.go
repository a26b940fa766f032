// Package testkit holds test fixtures only: the workspace emulator
// (wsemu, which cmd/wsemu also serves for trying recipes by hand), the
// e2e and benchmark world (testworld), port and uid helpers (porttest) and
// a git smart-HTTP server (gitserve). Nothing the shipped binaries run
// imports them; helper/deps_test.go and the daemon's build keep it so.
package testkit
