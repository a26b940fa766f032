package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg", "profiles.json")
	if got, err := Load(path); err != nil || got.Profiles != nil {
		t.Fatalf("Load of a missing file = %v, %v", got, err)
	}
	created := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	in := []Profile{{Name: "prod", Host: "https://a.example.com", UserName: "a@b.c", Kind: "pat", Created: created},
		{Name: "dev", Host: "https://b.example.com", Kind: "pat", Created: created}}
	if err := Save(path, Data{DaemonID: "abc", Profiles: in}); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	got := d.Profiles
	if err != nil || d.DaemonID != "abc" || len(got) != 2 || got[0].Name != "dev" || !reflect.DeepEqual(got[1], in[0]) {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		di, _ := os.Stat(filepath.Dir(path))
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Fatalf("modes: file %v dir %v", fi.Mode(), di.Mode())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestLoadRejectsGarbageAndNewerVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "move "+path+" aside") || !strings.Contains(err.Error(), BackupPath(path)) {
		t.Fatalf("garbage without a backup: %v", err)
	}
	os.WriteFile(path, []byte(`{"version": 99, "profiles": []}`), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("newer version: %v", err)
	}
}

func profilesOf(t *testing.T, path string) []string {
	t.Helper()
	d, err := Load(path)
	if err != nil {
		t.Fatalf("Load %s: %v", path, err)
	}
	var names []string
	for _, p := range d.Profiles {
		names = append(names, p.Name)
	}
	return names
}

func save(t *testing.T, path string, names ...string) {
	t.Helper()
	var d Data
	for _, n := range names {
		d.Profiles = append(d.Profiles, Profile{Name: n, Host: "https://" + n + ".example.com", Kind: "pat"})
	}
	if err := Save(path, d); err != nil {
		t.Fatal(err)
	}
}

func damagedCopies(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".damaged-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSaveKeepsThePreviousRegistry: every write leaves the registry it
// replaced as profiles.json.1, 0600, and no temporary files.
func TestSaveKeepsThePreviousRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	save(t, path, "prod")
	if _, err := os.Stat(BackupPath(path)); !os.IsNotExist(err) {
		t.Fatalf("a first write made a backup of nothing: %v", err)
	}
	save(t, path, "prod", "dev")
	save(t, path, "dev")
	if got := strings.Join(profilesOf(t, BackupPath(path)), ","); got != "dev,prod" {
		t.Fatalf("backup holds %q, want the registry before the last write (dev,prod)", got)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(BackupPath(path)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup mode %v", fi.Mode())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 2 {
		t.Fatalf("want profiles.json and profiles.json.1, have %v", entries)
	}
}

// TestDamagedRegistryFallsBackToBackup: a registry that does not parse
// (a torn disk block, a bad hand edit) no longer stops the daemon while a
// good backup exists; Recover repairs it on disk and keeps the damaged
// file byte for byte.
func TestDamagedRegistryFallsBackToBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	save(t, path, "prod")
	save(t, path, "prod", "dev") // backup: prod
	garbage := []byte("{\"version\": 1, \"profiles\": [{\"name\": \"prod\"\x00\x00")
	os.WriteFile(path, garbage, 0o600)

	if got := strings.Join(profilesOf(t, path), ","); got != "prod" {
		t.Fatalf("Load of a damaged registry = %q, want the backup's profiles (prod)", got)
	}
	rec, err := Recover(path)
	if err != nil || rec.Reason == "" || !strings.Contains(rec.Reason, "not valid JSON") || rec.Backup != BackupPath(path) || rec.Profiles != 1 {
		t.Fatalf("Recover = %+v, %v", rec, err)
	}
	kept := damagedCopies(t, path)
	if len(kept) != 1 || kept[0] != rec.KeptAs {
		t.Fatalf("damaged copies %v, Recover says %q", kept, rec.KeptAs)
	}
	if b, _ := os.ReadFile(rec.KeptAs); string(b) != string(garbage) {
		t.Fatalf("the damaged registry was not kept as it was: %q", b)
	}
	if b, _ := os.ReadFile(path); !json.Valid(b) {
		t.Fatalf("the registry was not restored from the backup: %q", b)
	}
	// Repaired: a second start finds nothing to do.
	if rec, err := Recover(path); err != nil || rec != (Recovery{}) {
		t.Fatalf("Recover of a repaired registry = %+v, %v", rec, err)
	}
}

// TestSaveNeverOverwritesADamagedRegistry: a write while the daemon runs on
// the backup (Recover could not repair, or the file broke while running)
// moves the damaged file aside first and leaves the good backup alone.
func TestSaveNeverOverwritesADamagedRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	save(t, path, "prod")
	save(t, path, "prod", "dev") // backup: prod
	os.WriteFile(path, []byte("{not json"), 0o600)

	save(t, path, "prod", "new")
	kept := damagedCopies(t, path)
	if len(kept) != 1 {
		t.Fatalf("damaged copies after a write: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != "{not json" {
		t.Fatalf("damaged copy holds %q", b)
	}
	if got := strings.Join(profilesOf(t, BackupPath(path)), ","); got != "prod" {
		t.Fatalf("the write replaced the good backup with %q", got)
	}
	if got := strings.Join(profilesOf(t, path), ","); got != "new,prod" {
		t.Fatalf("registry = %q", got)
	}
	// Two damaged files in the same second keep distinct names.
	os.WriteFile(path, []byte("{again"), 0o600)
	save(t, path, "prod")
	if kept := damagedCopies(t, path); len(kept) != 2 {
		t.Fatalf("damaged copies after a second damage: %v", kept)
	}
}

// TestNoFallbackFromANewerRegistry: a registry a newer dbx-credd wrote is
// not damaged; falling back (or saving over it) would downgrade it.
func TestNoFallbackFromANewerRegistry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	save(t, path, "prod")
	save(t, path, "prod", "dev")
	newer := `{"version": 99, "profiles": []}`
	os.WriteFile(path, []byte(newer), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("Load of a newer registry: %v", err)
	}
	if rec, err := Recover(path); err != nil || rec != (Recovery{}) {
		t.Fatalf("Recover of a newer registry = %+v, %v", rec, err)
	}
	if err := Save(path, Data{}); err == nil || !strings.Contains(err.Error(), "not replaced") {
		t.Fatalf("Save over a newer registry: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != newer {
		t.Fatalf("the newer registry changed: %q", b)
	}
}

// Every field of Data survives a save and a load (a field Save forgot to
// copy would be lost at the next write).
func TestSaveLoadKeepsEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	in := Data{DaemonID: "abc", Profiles: []Profile{{Name: "u2m", Kind: "oauth-u2m", TokenURL: "https://h/oidc/v1/token", RefreshInFlight: 3, ImportedFrom: "d1"}},
		Pending: []Pending{{Key: "k", Profile: "u2m", Reason: "r", Since: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}}, Presented: []string{"d1", "d2"}}
	if err := Save(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, in)
	}
}

// A registry written before automatic rotation (no root_created, no
// no_auto_rotate) still loads, with the root's creation unknown and
// automatic rotation on; the new fields survive a save and a load.
func TestRootRotationFieldsOldAndNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	old := `{"version":1,"profiles":[{"name":"p","host":"https://h","kind":"pat","created":"2026-01-01T00:00:00Z","root_id":"r1","root_expiry":"2026-04-01T00:00:00Z"}]}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Profiles[0]
	if !p.RootCreated.IsZero() || p.NoAutoRotate || p.RootID != "r1" {
		t.Fatalf("old registry read as %+v", p)
	}
	p.RootCreated, p.NoAutoRotate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), true
	if err := Save(path, Data{Profiles: []Profile{p}}); err != nil {
		t.Fatal(err)
	}
	if d, err = Load(path); err != nil || !d.Profiles[0].RootCreated.Equal(p.RootCreated) || !d.Profiles[0].NoAutoRotate {
		t.Fatalf("Load = %+v, %v", d, err)
	}
}
