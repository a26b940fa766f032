package registry

import (
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
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("garbage: %v", err)
	}
	os.WriteFile(path, []byte(`{"version": 99, "profiles": []}`), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("newer version: %v", err)
	}
}
