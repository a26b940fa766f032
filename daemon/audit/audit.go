// Package audit records every token the daemon hands out: one structured
// log line per hand-out and a bounded in-memory ring that the Audit RPC
// shows. It never sees a token value, only facts about the hand-out.
package audit

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultSize is how many events the ring keeps: enough for a day of a busy
// shell (a hand-out per git or SDK call) in well under a megabyte.
const DefaultSize = 1024

// Event is one token hand-out. PeerPID is 0 when the OS did not say (the
// metadata service learns only the uid of a TCP peer).
type Event struct {
	Time    time.Time
	Profile string
	Channel string // "token", "env", "git", "metadata", ...
	PeerUID int
	PeerPID int
	PeerExe string    // empty when unknown or not readable
	Kind    string    // "pat", "derived-pat", "oauth"
	Expiry  time.Time // zero: the token does not expire
}

// Log is the ring plus the log line. Safe for concurrent use.
type Log struct {
	log *slog.Logger

	mu     sync.Mutex
	events []Event // ring buffer of cap size
	next   int     // index of the slot the next event goes to
	full   bool
}

// New returns a Log keeping the last size events (DefaultSize when size <= 0)
// and writing one Info line per event to log.
func New(size int, log *slog.Logger) *Log {
	if size <= 0 {
		size = DefaultSize
	}
	return &Log{log: log, events: make([]Event, size)}
}

// Record logs ev and keeps it. A zero Time is set to now.
func (l *Log) Record(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	expiry := "never"
	if !ev.Expiry.IsZero() {
		expiry = ev.Expiry.UTC().Format(time.RFC3339)
	}
	// The time is the log line's own; the profile name identifies the
	// secret without revealing it.
	l.log.Info("token served", "profile", ev.Profile, "channel", ev.Channel,
		"peer_uid", ev.PeerUID, "peer_pid", ev.PeerPID, "peer_exe", ev.PeerExe,
		"kind", ev.Kind, "expiry", expiry)

	l.mu.Lock()
	l.events[l.next] = ev
	l.next++
	if l.next == len(l.events) {
		l.next, l.full = 0, true
	}
	l.mu.Unlock()
}

// Recent returns up to limit events, oldest first (newest last); limit <= 0
// means all that are kept.
func (l *Log) Recent(limit int) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.next
	if l.full {
		n = len(l.events)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]Event, limit)
	// The newest event sits just before next; walk back limit slots.
	start := l.next - limit
	for i := range out {
		out[i] = l.events[(start+i+len(l.events))%len(l.events)]
	}
	return out
}
