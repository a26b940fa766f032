// Package testkit holds test fixtures only: the workspace emulator
// (wsemu, which cmd/wsemu also serves for trying recipes by hand), the
// e2e and benchmark world (testworld), port and uid helpers (porttest), a
// git smart-HTTP server (gitserve), an OIDC identity provider (oidcidp) and
// the benchmarks' bare gRPC server (floorserver). Nothing the shipped binaries run
// imports them; helper/deps_test.go and the daemon's build keep it so.
package testkit
