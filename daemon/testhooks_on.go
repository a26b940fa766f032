//go:build dbxcredtest

package daemon

import (
	"log/slog"
	"os"
	"strconv"
)

// Test hooks exist only in binaries built with -tags dbxcredtest (the e2e
// harness builds dbx-credd that way); a release build compiles
// testhooks_off.go instead and never reads these variables.

// CrashHookEnv names a test hook: set to "after-mint" or "after-persist"
// (or, for OAuth U2M refreshes, "u2m-before-request", "u2m-after-response"
// or "u2m-after-persist"),
// dbx-credd exits with CrashExitCode at that point of its next token
// renewal, the way kill -9 would, so end-to-end tests can prove that a
// crash in the mint/persist window leaks no token (the next daemon's
// clean-up revokes it). It is read once at start.
const CrashHookEnv = "DBX_CRED_TEST_CRASH_AT"

// CrashExitCode is the exit status of a crash the hook caused, so a test
// can tell it from any real failure.
const CrashExitCode = 99

// MetadataDefaultEnv replaces the metadata service's preferred address
// (metadata.DefaultListen, 127.0.0.1:8471), so tests of "the default port is
// taken" hold a port of their own instead of the machine-wide one, which
// other tests and other users may hold.
const MetadataDefaultEnv = "DBX_CRED_TEST_METADATA_DEFAULT"

// testHooksBuilt tells the start-up log that this binary is a test build.
const testHooksBuilt = true

// metadataDefault is the metadata service's preferred address.
func metadataDefault(getenv func(string) string, def string) string {
	if v := getenv(MetadataDefaultEnv); v != "" {
		return v
	}
	return def
}

// crashHook returns the tokensource.Config.CrashAt hook for the value of
// CrashHookEnv, or nil when it is unset or names no known point.
func crashHook(getenv func(string) string, log *slog.Logger) func(point string) {
	at := getenv(CrashHookEnv)
	switch at {
	case "":
		return nil
	case "after-mint", "after-persist", "u2m-before-request", "u2m-after-response", "u2m-after-persist":
	case "migrate-after-copy", "migrate-after-switch":
		// A migration stops there and waits for the test's kill -9: a
		// real SIGKILL, between the store writes and the registry switch.
		log.Warn("test hook armed: a store migration will pause", "env", CrashHookEnv, "point", at)
		return func(point string) {
			if point == at {
				log.Warn("test hook: paused for kill -9", "point", point)
				select {}
			}
		}
	default:
		log.Warn("ignoring an unknown test crash point", "env", CrashHookEnv, "value", at)
		return nil
	}
	log.Warn("test hook armed: the daemon will exit at the next renewal", "env", CrashHookEnv, "point", at)
	return func(point string) {
		if point != at {
			return
		}
		log.Warn("test hook: exiting", "point", point, "code", CrashExitCode)
		// os.Exit runs no deferred calls, like the kill -9 it stands for.
		os.Exit(CrashExitCode)
	}
}

// ScryptWorkEnv lowers the file store's scrypt work factor for a new file
// (log2 N), so end-to-end tests under -race do not spend seconds per
// unlock. The file format is the same.
const ScryptWorkEnv = "DBX_CRED_TEST_SCRYPT_WORK"

func scryptWork(getenv func(string) string) int {
	n, _ := strconv.Atoi(getenv(ScryptWorkEnv))
	return n
}

// KeyctlRingEnv replaces the kernel keyring store's ring name, so a test's
// daemon never touches the real "dbx-cred" ring of the uid (the kernel
// keyring is shared by every process of the uid, tests included).
const KeyctlRingEnv = "DBX_CRED_TEST_KEYCTL_RING"

func keyctlRing(getenv func(string) string, def string) string {
	if v := getenv(KeyctlRingEnv); v != "" {
		return v
	}
	return def
}
