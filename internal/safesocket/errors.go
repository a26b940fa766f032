package safesocket

import (
	"errors"
	"fmt"
)

// ErrAlreadyRunning reports that another daemon already serves on the
// socket path. Test for it with errors.Is.
var ErrAlreadyRunning = errors.New("dbx-credd is already running")

// alreadyRunningError carries the user-facing explanation while still
// matching ErrAlreadyRunning under errors.Is.
type alreadyRunningError struct {
	who  string // "another dbx-credd", or a process outside our lock
	path string
}

func (e *alreadyRunningError) Error() string {
	return fmt.Sprintf("%s is already serving on %s; stop it first, or set %s to run a second one",
		e.who, e.path, EnvSocket)
}

func (e *alreadyRunningError) Unwrap() error { return ErrAlreadyRunning }

// DirError reports a socket directory that other users could reach or
// replace, so the socket's 0600 mode alone would not protect it.
type DirError struct {
	Path    string // the socket's directory
	Problem string // what is wrong, e.g. "is a symlink"
	Fix     string // what the user can do about it
}

func (e *DirError) Error() string {
	return fmt.Sprintf("socket directory %s %s: %s, or set %s to a path in a private directory",
		e.Path, e.Problem, e.Fix, EnvSocket)
}
