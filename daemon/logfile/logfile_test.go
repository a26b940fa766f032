package logfile

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestMovedAsideAtTheLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "d.log")
	l, err := Open(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	log := slog.New(slog.NewTextHandler(l, nil))
	// 8 writers, 500 records each, about 100 bytes a record: the file is
	// moved aside many times while they write.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.Info("token served", "writer", w, "i", i)
			}
		})
	}
	wg.Wait()
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1000 {
			t.Errorf("%s is %d bytes, over the 1000-byte limit", filepath.Base(p), fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
		data, _ := os.ReadFile(p)
		// Whole records only: each line starts a record and ends one.
		for line := range strings.Lines(string(data)) {
			if !strings.HasPrefix(line, "time=") || !strings.HasSuffix(line, "\n") {
				t.Fatalf("%s holds a split record: %q", filepath.Base(p), line)
			}
		}
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("the log directory has mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestAppendsAndTightensAnOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.log")
	if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(path, DefaultMax)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(l, "after")
	l.Close()
	data, _ := os.ReadFile(path)
	if string(data) != "before\nafter\n" {
		t.Fatalf("the log holds %q", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestBadLimitAndPath(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "d.log"), 0); err == nil {
		t.Fatal("a limit of 0 was accepted")
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(filepath.Join(file, "d.log"), DefaultMax); err == nil || !strings.Contains(err.Error(), "log directory") {
		t.Fatalf("a log under a regular file: %v", err)
	}
}

// A symlink planted at the log's path is refused, not followed.
func TestOpenRefusesASymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no O_NOFOLLOW on Windows")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "daemon.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(link, DefaultMax); err == nil {
		f.Write([]byte("record\n"))
		b, _ := os.ReadFile(target)
		t.Fatalf("opened through a symlink; the target now holds %q", b)
	}
}
