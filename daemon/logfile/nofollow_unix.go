//go:build unix

package logfile

import "syscall"

// oNoFollow makes opening the log fail on a symlink: a link planted at the
// log's path would otherwise send the daemon's records into any file the
// user can write.
const oNoFollow = syscall.O_NOFOLLOW
