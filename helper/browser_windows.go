package helper

// platformOpener is the command that opens a URL in the user's browser:
// url.dll's handler takes the URL as one argument, where "cmd /c start"
// would parse it as a command line and split it at every &.
func platformOpener() []string { return []string{"rundll32", "url.dll,FileProtocolHandler"} }
