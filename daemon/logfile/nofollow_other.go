//go:build !unix

package logfile

// oNoFollow is 0 where os.OpenFile has no such flag (Windows' CreateFile
// opens a symlink's target; the profile directory's ACL guards it).
const oNoFollow = 0
