package helper

import "golang.org/x/term"

func isTerminal(fd int) bool { return term.IsTerminal(fd) }

// readHidden reads a line from the terminal without echoing it.
func readHidden(fd int) ([]byte, error) { return term.ReadPassword(fd) }
