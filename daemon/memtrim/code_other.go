//go:build !linux

package memtrim

// releaseCode is Linux's alone (code_linux.go): elsewhere the system
// reclaims an idle program's code pages by itself, and RSS is measured
// differently.
func releaseCode() error { return nil }
