package helper

import "golang.org/x/sys/unix"

// pipeHasData reports whether bytes wait in the pipe behind fd, without
// reading (and so without blocking on an empty pipe that stays open, as
// stdin under ssh without a terminal does). TIOCINQ is Linux's FIONREAD.
func pipeHasData(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
	return err == nil && n > 0
}
