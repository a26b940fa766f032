//go:build !dbxcredtest

package daemon

import "log/slog"

// A release build has no test hooks: nothing in the environment can make it
// crash on purpose or move its metadata port (testhooks_on.go has them, for
// binaries built with -tags dbxcredtest).

const testHooksBuilt = false

func metadataDefault(_ func(string) string, def string) string { return def }

func crashHook(func(string) string, *slog.Logger) func(point string) { return nil }

func scryptWork(func(string) string) int { return 0 }

func keyctlRing(_ func(string) string, def string) string { return def }
