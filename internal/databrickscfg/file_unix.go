//go:build unix

package databrickscfg

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives fh the owner and group of the file described by info, when
// they differ from the creator's (root editing another user's file, or a
// setgid directory); a user who cannot chown keeps the file unreplaced.
func keepOwner(fh *os.File, info fs.FileInfo) error {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	mine, err := fh.Stat()
	if err != nil {
		return err
	}
	if m, ok := mine.Sys().(*syscall.Stat_t); ok && m.Uid == st.Uid && m.Gid == st.Gid {
		return nil
	}
	return fh.Chown(int(st.Uid), int(st.Gid))
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
