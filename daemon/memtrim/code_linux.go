//go:build linux

package memtrim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseCode unmaps this process's resident pages of its own executable
// that are not writable: code and read-only data. Start-up and the first
// logins fault in most of the binary (the kernel maps neighbours of each
// page it faults), and those pages then count in the daemon's RSS for
// good, though an idle daemon runs a small part of it. They stay in the
// page cache: what runs later faults back in without reading the disk.
// Writable mappings are never touched, since MADV_DONTNEED on a private
// mapping discards its copy-on-write changes; read-only ones have none.
func releaseCode() error {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("find the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("read the memory map: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := codeMapping(sc.Text(), exe)
		if !ok {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %#x-%#x: %w", start, end, errno)
		}
	}
	return sc.Err()
}

// codeMapping parses one line of /proc/self/maps ("start-end perms offset
// dev inode path") and reports the range when it maps exe and is not
// writable.
func codeMapping(line, exe string) (start, end uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 6 || len(f[1]) < 2 || f[1][1] == 'w' {
		return 0, 0, false
	}
	// The path is the rest of the line, and may hold spaces.
	if path := strings.Join(f[5:], " "); path != exe {
		return 0, 0, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(lo, 16, 64)
	e, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
