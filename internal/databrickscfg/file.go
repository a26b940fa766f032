package databrickscfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BackupInfix and TempInfix name the files written next to the config:
// <name>.dbx-cred-backup-<UTC time> and .<name>.dbx-cred-tmp-<random>.
const (
	BackupInfix = ".dbx-cred-backup-"
	TempInfix   = ".dbx-cred-tmp-"
)

// Target is a config file about to be replaced: where it really is (a
// symlink is followed, so a dotfiles link keeps pointing at it) and what
// it held when read.
type Target struct {
	Path string // the resolved path
	Data []byte
	Mode fs.FileMode
	info fs.FileInfo
}

// Open reads the config at path, following symlinks.
func Open(path string) (*Target, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", path, err)
	}
	info, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", real, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("read %s: not a regular file", real)
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", real, err)
	}
	return &Target{Path: real, Data: data, Mode: info.Mode().Perm(), info: info}, nil
}

// Backup copies the data as read to a new 0600 file next to the config,
// named after it with the UTC time, and syncs it to disk. It holds every
// secret the config held, so it is created 0600 whatever the config's mode.
func (t *Target) Backup(now time.Time) (string, error) {
	base := t.Path + BackupInfix + now.UTC().Format("20060102T150405Z")
	for n := 1; ; n++ {
		name := base
		if n > 1 {
			name += "-" + strconv.Itoa(n)
		}
		fh, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && n < 100 {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("create the backup %s: %w", name, err)
		}
		if err := writeSync(fh, t.Data); err != nil {
			os.Remove(name)
			return "", fmt.Errorf("write the backup %s: %w", name, err)
		}
		if err := syncDir(filepath.Dir(name)); err != nil {
			return "", fmt.Errorf("sync the directory of the backup %s: %w", name, err)
		}
		return name, nil
	}
}

// PrivateMode is the mode of every file dbx-cred writes in place of a
// config or the CLI's token cache. What an import leaves there is still a
// credential: a metadata_service_url is a bearer capability (its path is
// the secret) wherever the daemon cannot tell which uid calls it (macOS,
// Windows), and the cache's other entries hold refresh tokens.
const PrivateMode fs.FileMode = 0o600

// Private reports whether the file was private (no group or other access)
// when read; a rewrite makes it so (PrivateMode), and says it did.
func (t *Target) Private() bool { return t.Mode&0o077 == 0 }

// WriteTemp writes data to a new temporary file in the config's directory
// (so a rename can replace the config atomically), mode 0600 whatever the
// config's (see Private) and with its owner, synced to disk. The caller
// commits it or removes it.
func (t *Target) WriteTemp(data []byte) (string, error) {
	dir, name := filepath.Split(t.Path)
	fh, err := os.CreateTemp(dir, "."+name+TempInfix+"*")
	if err != nil {
		return "", fmt.Errorf("create a temporary file next to %s: %w", t.Path, err)
	}
	tmp := fh.Name()
	fail := func(what string, err error) (string, error) {
		fh.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("%s %s: %w", what, tmp, err)
	}
	if err := fh.Chmod(PrivateMode); err != nil {
		return fail("set the mode of", err)
	}
	if err := keepOwner(fh, t.info); err != nil {
		return fail("give the config's owner to", err)
	}
	if err := writeSync(fh, data); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	return tmp, nil
}

// Commit renames tmp over the config, after checking that nobody changed
// the config since it was read (their change would be lost), and syncs the
// directory so the rename survives a power cut.
func (t *Target) Commit(tmp string) error {
	now, err := os.ReadFile(t.Path)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("read %s again before replacing it: %w", t.Path, err)
	}
	if !bytes.Equal(now, t.Data) {
		os.Remove(tmp)
		return fmt.Errorf("%s changed while it was being imported; it was left as it is: run the import again", t.Path)
	}
	if err := os.Rename(tmp, t.Path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace %s: %w", t.Path, err)
	}
	if err := syncDir(filepath.Dir(t.Path)); err != nil {
		return fmt.Errorf("sync the directory of %s: %w", t.Path, err)
	}
	return nil
}

// StaleTemps lists temporary files an interrupted import left next to the
// config. They are never the config itself, so removing them is safe.
func StaleTemps(path string) []string {
	dir, name := filepath.Split(path)
	matches, _ := filepath.Glob(filepath.Join(dir, "."+escapeGlob(name)+TempInfix+"*"))
	return matches
}

// Backups lists the backups made of the config, oldest first.
func Backups(path string) []string {
	matches, _ := filepath.Glob(escapeGlob(path) + BackupInfix + "*")
	return matches
}

func escapeGlob(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(s)
}

func writeSync(fh *os.File, data []byte) error {
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
