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
	// Mode is "rotating" (serve minted short-lived tokens) or "static".
	Mode string `json:"mode,omitempty"`
	// LifetimeSeconds of minted tokens, rotating mode.
	LifetimeSeconds int64 `json:"lifetime_seconds,omitempty"`
	// RootID and RootExpiry are known for roots dbx-cred created itself
	// (dbx-cred rotate); ids and times are not secret.
	RootID     string    `json:"root_id,omitempty"`
	RootExpiry time.Time `json:"root_expiry,omitzero"`
	// SecretKey is the store key of the profile's secret; empty means the
	// profile name (profiles made before keys carried a generation). Each
	// login and rotate writes a new key and switches to it here, so a
	// keyring write that lands late can never overwrite the secret in use.
	SecretKey string `json:"secret_key,omitempty"`
	// LoginID names this login in the comments of the tokens minted for
	// it, so the clean-up of one login never touches a token of the next
	// login of the same profile name (empty: a profile from before it).
	LoginID string `json:"login_id,omitempty"`
	// KeptScopes lists the scope sets ("" for none) whose current minted
	// token is kept in the store, so logout can delete every one.
	KeptScopes []string `json:"kept_scopes,omitempty"`
}

// Pending is a store key whose write or delete had no confirmed outcome
// when it was recorded (written before the store call, cleared after it).
// One that no profile's SecretKey names is an orphan: status reports it and
// logout of its profile removes it.
type Pending struct {
	Key     string    `json:"key"`
	Profile string    `json:"profile"`
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
}

// Data is the registry's whole content.
type Data struct {
	// DaemonID names this installation in the comments of tokens it mints,
	// so its clean-up never touches tokens another machine's dbx-cred made.
	DaemonID string    `json:"daemon_id,omitempty"`
	Profiles []Profile `json:"profiles"`
	Pending  []Pending `json:"pending,omitempty"`
}

// file is the on-disk form; the version lets later releases migrate it.
type file struct {
	Version int `json:"version"`
	Data
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
func Load(path string) (Data, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Data{}, nil
	}
	if err != nil {
		return Data{}, fmt.Errorf("read profile registry: %w", err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return Data{}, fmt.Errorf("read profile registry %s: it is not valid JSON (%v); move it aside and log in again", path, err)
	}
	if f.Version > currentVersion {
		return Data{}, fmt.Errorf("profile registry %s is version %d, newer than this dbx-credd understands (%d): upgrade dbx-cred", path, f.Version, currentVersion)
	}
	return f.Data, nil
}

// Save replaces the registry at path atomically: a reader sees the old file
// or the new one, never a torn one, even across a crash.
func Save(path string, d Data) error {
	sorted := append([]Profile(nil), d.Profiles...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	b, err := json.MarshalIndent(file{Version: currentVersion, Data: Data{DaemonID: d.DaemonID, Profiles: sorted, Pending: d.Pending}}, "", "  ")
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
