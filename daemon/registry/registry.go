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

	"github.com/dbx-cred/dbx-cred/internal/atomicfile"
)

// Profile is what the registry knows of a profile.
type Profile struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	UserName string `json:"user_name,omitempty"`
	Kind     string `json:"kind"`
	// ClientID is an OAuth M2M profile's service principal application
	// id: not secret (its secret is in the store).
	ClientID string `json:"client_id,omitempty"`
	// AccountID is set for an account-level profile, whose Host is an
	// accounts console host: the Databricks account id (not secret).
	AccountID string    `json:"account_id,omitempty"`
	Created   time.Time `json:"created"`
	// TokenURL, RevocationURL and Scopes are an OAuth U2M login's token
	// endpoint, its RFC 7009 revocation endpoint (empty when the workspace
	// names none) and the scopes it was granted: none is secret.
	TokenURL      string   `json:"token_url,omitempty"`
	RevocationURL string   `json:"revocation_url,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	// RefreshInFlight is the generation of the U2M refresh token last
	// presented to the token endpoint, written before the request leaves
	// (0: none, or one known not to have left). A stored refresh token of
	// that generation or older may have been rotated by a refresh whose
	// answer was lost in a crash, so it is never presented again.
	RefreshInFlight int64 `json:"refresh_in_flight,omitempty"`
	// ImportedFrom is, for a U2M login imported from another tool, a
	// digest (truncated SHA-256) of the refresh token it was imported
	// from, which the import's proving refresh superseded. Presenting that
	// one again would make the workspace revoke the whole login, so an
	// import of it (say, rerun after a crash left it in the other tool's
	// cache) is answered from this profile instead. A digest of a dead,
	// random token says nothing of any live one.
	ImportedFrom string `json:"imported_from,omitempty"`
	// Mode is "rotating" (serve minted short-lived tokens) or "static".
	Mode string `json:"mode,omitempty"`
	// LifetimeSeconds of minted tokens, rotating mode.
	LifetimeSeconds int64 `json:"lifetime_seconds,omitempty"`
	// RootID and RootExpiry are known for roots dbx-cred created itself
	// (dbx-cred rotate); ids and times are not secret.
	RootID     string    `json:"root_id,omitempty"`
	RootExpiry time.Time `json:"root_expiry,omitzero"`
	// RootCreated is when the workspace created that root, so its
	// lifetime (RootExpiry - RootCreated) is what its successor asks for
	// and when it is due for replacement. Zero in registries written
	// before automatic rotation: the lifetime is then taken as 90 days.
	RootCreated time.Time `json:"root_created,omitzero"`
	// NoAutoRotate turns off the automatic replacement of a root dbx-cred
	// created (login --no-auto-rotate); absent in older registries, which
	// then rotate automatically, the default.
	NoAutoRotate bool `json:"no_auto_rotate,omitempty"`
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
	// Store names the store that holds the profile's secrets: "os",
	// "file" or "keyctl"; empty means "os" (profiles from before stores
	// were a choice). The daemon refuses to start on another store while
	// profiles live in this one (dbx-cred store migrate moves them).
	Store string `json:"store,omitempty"`
	// Federated is a federated profile's ID token source ("github",
	// "azure-devops", "file:PATH", "env:NAME"), and Audience the audience
	// it asks for ("" for the default): no secret, the whole credential.
	Federated string `json:"federated,omitempty"`
	Audience  string `json:"audience,omitempty"`
}

// StoreOf is p's store, with the empty default spelled out.
func StoreOf(p Profile) string {
	if p.Store == "" {
		return "os"
	}
	return p.Store
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
	// Presented lists digests (see Profile.ImportedFrom) of refresh tokens
	// an import presented to the token endpoint, oldest first: each is
	// superseded, and is never presented again, across restarts too.
	Presented []string `json:"presented_imports,omitempty"`
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

// BackupPath is where Save keeps the registry as it was before its last
// write: the fallback when the registry itself does not parse.
func BackupPath(path string) string { return path + ".1" }

// damagedSuffix starts the name a registry that does not parse is kept
// under, with a UTC time after it, before anything replaces it.
const damagedSuffix = ".damaged-"

// errDamaged marks a file that is not a registry at all (as opposed to one
// a newer dbx-credd wrote), so only that case falls back to the backup.
var errDamaged = errors.New("not valid JSON")

// Load reads the registry at path. A missing file is an empty registry. A
// file that does not parse falls back to BackupPath's copy, as Recover does
// on disk, so the daemon keeps serving the profiles whose secrets are all
// still in the keyring; it fails only when the backup is unusable too.
func Load(path string) (Data, error) {
	d, _, err := load(path)
	return d, err
}

// load is Load that also says why path itself did not parse (fallback is
// non-empty when the data came from the backup).
func load(path string) (d Data, fallback string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Data{}, "", nil
	}
	if err != nil {
		return Data{}, "", fmt.Errorf("read profile registry: %w", err)
	}
	d, err = decode(path, b)
	if !errors.Is(err, errDamaged) {
		return d, "", err
	}
	backup := BackupPath(path)
	bb, berr := os.ReadFile(backup)
	if berr == nil {
		var bd Data
		if bd, berr = decode(backup, bb); berr == nil {
			return bd, err.Error(), nil
		}
	}
	return Data{}, "", fmt.Errorf("%w, and its backup %s is not usable either (%v): move %s aside and log in again (dbx-cred login -p NAME; the secrets are still in the keyring and the login replaces them)",
		err, backup, berr, path)
}

func decode(path string, b []byte) (Data, error) {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return Data{}, fmt.Errorf("profile registry %s is %w (%v)", path, errDamaged, err)
	}
	if f.Version > currentVersion {
		return Data{}, fmt.Errorf("profile registry %s is version %d, newer than this dbx-credd understands (%d): upgrade dbx-cred", path, f.Version, currentVersion)
	}
	return f.Data, nil
}

// Recovery is what Recover found and did.
type Recovery struct {
	// Reason is why the registry did not parse; empty when it did (or
	// when there is none), and then the other fields are empty too.
	Reason string
	// Backup is the file the profiles now come from (BackupPath).
	Backup string
	// KeptAs is where the damaged registry was copied before the backup
	// replaced it; empty when that failed (Recover's error says why).
	KeptAs string
	// Profiles is how many profiles the backup holds.
	Profiles int
}

// Recover repairs a registry that does not parse from its backup, on disk,
// before anything else reads it: the damaged file is first copied to
// path.damaged-<UTC time> (never lost, for the user to look at), then the
// backup replaces it atomically, so path exists at every instant and a
// crash in between leaves the damaged file or the backup in place. It does
// nothing to a registry that parses, is missing, or that a newer dbx-credd
// wrote, and nothing when the backup is unusable too (Load then fails and
// says what to do).
func Recover(path string) (Recovery, error) {
	d, reason, err := load(path)
	if err != nil || reason == "" {
		return Recovery{}, nil
	}
	rec := Recovery{Reason: reason, Backup: BackupPath(path), Profiles: len(d.Profiles)}
	kept, err := keepDamaged(path)
	if err != nil {
		return rec, err
	}
	rec.KeptAs = kept
	b, err := os.ReadFile(rec.Backup)
	if err != nil {
		return rec, fmt.Errorf("restore the profile registry from %s: %w", rec.Backup, err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return rec, fmt.Errorf("restore the profile registry from %s: %w", rec.Backup, err)
	}
	return rec, nil
}

// keepDamaged copies the unparseable registry at path to a new
// path.damaged-<UTC time> and returns that name.
func keepDamaged(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("keep the damaged profile registry: %w", err)
	}
	base := path + damagedSuffix + time.Now().UTC().Format("20060102T150405Z")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			break
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
	if err := atomicfile.Write(name, b); err != nil {
		return "", fmt.Errorf("keep the damaged profile registry as %s: %w", name, err)
	}
	return name, nil
}

// Save replaces the registry at path atomically: a reader sees the old file
// or the new one, never a torn one, even across a crash. The file it
// replaces is kept first: as BackupPath when it parses, as
// path.damaged-<UTC time> when it does not (the backup then stays the last
// good registry), so no write ever loses a registry that could not be read.
// A registry a newer dbx-credd wrote is never replaced.
func Save(path string, d Data) error {
	sorted := append([]Profile(nil), d.Profiles...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	b, err := json.MarshalIndent(file{Version: currentVersion, Data: Data{DaemonID: d.DaemonID, Profiles: sorted, Pending: d.Pending, Presented: d.Presented}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode profile registry: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create registry directory: %w", err)
	}
	cur, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read profile registry before replacing it: %w", err)
	default:
		_, derr := decode(path, cur)
		switch {
		case derr == nil:
			if err := atomicfile.Write(BackupPath(path), cur); err != nil {
				return fmt.Errorf("back up profile registry to %s: %w", BackupPath(path), err)
			}
		case errors.Is(derr, errDamaged):
			if _, err := keepDamaged(path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w; it is not replaced", derr)
		}
	}
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("write profile registry: %w", err)
	}
	return nil
}
