//go:build !linux

package peercred

// Exe returns "" where there is no /proc to ask: the audit trail then shows
// uid and pid only.
func Exe(int) string { return "" }
