// Package version holds the build's version, stamped by the linker
// (-X .../internal/version.Version=...). It is a var only so that the linker
// can set it; nothing assigns it at run time.
package version

// Version is the release this binary was built from.
var Version = "dev"
