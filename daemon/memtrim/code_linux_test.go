//go:build linux

package memtrim

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is the process's resident file-backed memory, in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseCodeLetsGoOfTheExecutable(t *testing.T) {
	before := rssFile(t)
	if err := releaseCode(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if after >= before {
		t.Fatalf("RssFile %d kB before, %d kB after: nothing was let go", before, after)
	}
	// The code still runs (it faults back in): this test's own calls, and
	// a second release.
	if err := releaseCode(); err != nil {
		t.Fatal(err)
	}
	t.Logf("RssFile %d kB -> %d kB", before, after)
}

func TestCodeMappingTakesOnlyTheExecutablesReadOnlyMappings(t *testing.T) {
	exe := "/opt/dbx cred/dbx-credd"
	for _, c := range []struct {
		line string
		ok   bool
	}{
		{"00400000-00b2f000 r-xp 00000000 08:01 1234 /opt/dbx cred/dbx-credd", true},
		{"00b2f000-01200000 r--p 0072f000 08:01 1234 /opt/dbx cred/dbx-credd", true},
		{"01200000-01240000 rw-p 00e00000 08:01 1234 /opt/dbx cred/dbx-credd", false}, // data: its changes would be lost
		{"7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6", false},
		{"7f0000000000-7f0000100000 rw-p 00000000 00:00 0", false},
		{"c000000000-c000400000 rw-p 00000000 00:00 0 [heap]", false},
		{"garbage", false},
	} {
		s, e, ok := codeMapping(c.line, exe)
		if ok != c.ok || (ok && e <= s) {
			t.Errorf("%q: %#x-%#x %v, want %v", c.line, s, e, ok, c.ok)
		}
	}
}
