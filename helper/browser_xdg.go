//go:build unix && !darwin

package helper

// platformOpener is the command that opens a URL in the user's browser.
func platformOpener() []string { return []string{"xdg-open"} }
