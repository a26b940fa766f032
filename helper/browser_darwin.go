package helper

// platformOpener is the command that opens a URL in the user's browser.
func platformOpener() []string { return []string{"open"} }
