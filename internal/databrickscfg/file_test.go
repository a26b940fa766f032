package databrickscfg

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestBackupWriteCommit(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "databrickscfg")
	os.MkdirAll(filepath.Dir(real), 0o700)
	if err := os.WriteFile(real, []byte("[p]\ntoken = dapiX\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(real, 0o640)
	link := filepath.Join(dir, ".databrickscfg")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("no symlinks here:", err)
	}
	tg, err := Open(link)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.EvalSymlinks(real); tg.Path != want {
		t.Fatalf("Path = %s, want the link's target %s", tg.Path, want)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	b1, err := tg.Backup(now)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := tg.Backup(now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b1, "databrickscfg.dbx-cred-backup-20260501T110000Z") || b2 != b1+"-2" {
		t.Fatalf("backups %s, %s", b1, b2)
	}
	for _, b := range []string{b1, b2} {
		st, _ := os.Stat(b)
		data, _ := os.ReadFile(b)
		if string(data) != string(tg.Data) || runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
			t.Fatalf("backup %s: %q mode %v", b, data, st.Mode())
		}
	}
	if got := Backups(tg.Path); len(got) != 2 {
		t.Fatalf("Backups = %v", got)
	}

	tmp, err := tg.WriteTemp([]byte("[p]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := StaleTemps(tg.Path); len(got) != 1 || got[0] != tmp {
		t.Fatalf("StaleTemps = %v, want [%s]", got, tmp)
	}
	if err := tg.Commit(tmp); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Lstat(link)
	if st.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the symlink was replaced by a file")
	}
	st, _ = os.Stat(real)
	data, _ := os.ReadFile(real)
	// 0640 before, 0600 after: what an import leaves (a metadata URL) is
	// a credential too.
	if tg.Private() {
		t.Fatal("a 0640 config reported private")
	}
	if string(data) != "[p]\n" || runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("after commit: %q mode %v, want 0600", data, st.Mode())
	}
	if got := StaleTemps(tg.Path); len(got) != 0 {
		t.Fatalf("temp left: %v", got)
	}
}

func TestCommitRefusesAConcurrentChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".databrickscfg")
	os.WriteFile(path, []byte("[p]\n"), 0o600)
	tg, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := tg.WriteTemp([]byte("[p]\nk = v\n"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("[p]\nsomeone = else\n"), 0o600)
	if err := tg.Commit(tmp); err == nil || !strings.Contains(err.Error(), "run the import again") {
		t.Fatalf("Commit = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[p]\nsomeone = else\n" {
		t.Fatalf("the other change was lost: %q", data)
	}
	if len(StaleTemps(path)) != 0 {
		t.Fatal("the temp file was left behind")
	}
}
