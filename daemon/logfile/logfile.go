// Package logfile is the daemon's log when no journal keeps it (dbx-cred's
// autostart, the launchd agent, the Windows logon start): a private file
// that is moved aside to PATH.1 once the next record would take it past a
// size, so a daemon that logs every token it hands out for weeks holds at
// most twice that on disk, never an unbounded file.
package logfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// DefaultMax is the size at which the log is moved aside: some 40,000
// audit lines, weeks of ordinary use.
const DefaultMax = 8 << 20

// File is an append-only log file, safe for concurrent writers. Each Write
// lands whole in one file: slog writes a record per call, so rotation
// never splits a record.
type File struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

// Open opens path for appending (creating it and its directory, private to
// the user: the log names profiles, hosts and processes, though never a
// token), to be moved aside at max bytes.
func Open(path string, max int64) (*File, error) {
	if max <= 0 {
		return nil, fmt.Errorf("log file size limit %d: must be positive", max)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the log directory: %w", err)
	}
	l := &File{path: path, max: max}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *File) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("open the log file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open the log file: %w", err)
	}
	// A file made by an older version, or by hand, may be readable by
	// others; what this daemon writes is not.
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return fmt.Errorf("make the log file private: %w", err)
		}
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, first moving the file aside when p would take it past
// the limit. When moving aside fails, it keeps appending to the same file:
// a log that grows beats a log that stops.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size > 0 && l.size+int64(len(p)) > l.max {
		l.rotate()
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate replaces PATH.1 with the current file and starts an empty one.
// The file is closed first: Windows cannot rename a file that is open.
func (l *File) rotate() {
	l.f.Close()
	os.Rename(l.path, l.path+".1") // failing that, the next open appends
	// Failing to reopen leaves nowhere to write: later writes fail, and
	// slog drops them.
	_ = l.open()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
