// Package registry keeps the non-secret half of each profile (name, host,
// user, kind, creation time) in a small JSON file. Secrets never enter it:
// they live in the OS keyring only.
package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Profile is what the registry knows of a profile.
type Profile struct {
	Name     string    `json:"name"`
	Host     string    `json:"host"`
	UserName string    `json:"user_name,omitempty"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
}

// file is the on-disk form; the version lets later releases migrate it.
type file struct {
	Version  int       `json:"version"`
	Profiles []Profile `json:"profiles"`
}

const currentVersion = 1

// DefaultPath is profiles.json under the user's configuration directory
// ($XDG_CONFIG_HOME/dbx-cred on Linux).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(dir, "dbx-cred", "profiles.json"), nil
}

// Load reads the registry at path. A missing file is an empty registry.
func Load(path string) ([]Profile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read profile registry: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("read profile registry %s: it is not valid JSON (%v); move it aside and log in again", path, err)
	}
	if f.Version > currentVersion {
		return nil, fmt.Errorf("profile registry %s is version %d, newer than this dbx-credd understands (%d): upgrade dbx-cred", path, f.Version, currentVersion)
	}
	return f.Profiles, nil
}

// Save replaces the registry at path atomically: a reader sees the old file
// or the new one, never a torn one, even across a crash.
func Save(path string, profiles []Profile) error {
	sorted := append([]Profile(nil), profiles...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	b, err := json.MarshalIndent(file{Version: currentVersion, Profiles: sorted}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode profile registry: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create registry directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".profiles-*.tmp")
	if err != nil {
		return fmt.Errorf("write profile registry: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write profile registry: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write profile registry: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("flush profile registry: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write profile registry: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace profile registry: %w", err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes the rename itself durable. Best effort: not every OS lets a
// directory be opened and synced (Windows does not).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
