// Package audit records every token the daemon hands out: one structured
// log line per hand-out and a bounded in-memory ring that the Audit RPC
// shows. It never sees a token value, only facts about the hand-out.
package audit

import (
	"context"
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
	// Count is how many hand-outs the event stands for: the same token
	// handed to the same process through the same channel within
	// coalesceWithin counts into the event before it (an SDK asks twice
	// for one call), so the ring shows calls, not retries.
	Count int
	// Via is the forwarding socket's label the call came through ("" for
	// the daemon's own socket), so the laptop's audit shows which remote
	// got which token.
	Via string
	// Request is what the local proxy forwarded with the token: method,
	// path and status ("GET /api/2.0/clusters/list 200"); never a header,
	// query or body.
	Request string
}

// coalesceWithin bounds how close a repeated hand-out must follow the one
// before to count into its event.
const coalesceWithin = time.Second

// sameHandOut reports whether ev repeats e: same token, process, channel.
func (e Event) sameHandOut(ev Event) bool {
	return e.Count > 0 && e.Profile == ev.Profile && e.Channel == ev.Channel && e.Via == ev.Via && e.Request == ev.Request && e.PeerUID == ev.PeerUID &&
		e.PeerPID == ev.PeerPID && e.Kind == ev.Kind && e.Expiry.Equal(ev.Expiry) && ev.Time.Sub(e.Time) < coalesceWithin
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
	// On the warm path of every hand-out: nothing is formatted or boxed
	// when the log leaves Info out, and LogAttrs boxes nothing when it
	// keeps it.
	if ctx := context.Background(); l.log.Enabled(ctx, slog.LevelInfo) {
		expiry := "never"
		if !ev.Expiry.IsZero() {
			expiry = ev.Expiry.UTC().Format(time.RFC3339)
		}
		// The time is the log line's own; the profile name identifies the
		// secret without revealing it.
		l.log.LogAttrs(ctx, slog.LevelInfo, "token served", slog.String("profile", ev.Profile), slog.String("channel", ev.Channel),
			slog.Int("peer_uid", ev.PeerUID), slog.Int("peer_pid", ev.PeerPID), slog.String("peer_exe", ev.PeerExe),
			slog.String("kind", ev.Kind), slog.String("expiry", expiry), slog.String("via", ev.Via), slog.String("request", ev.Request))
	}

	l.mu.Lock()
	ev.Count = 1
	if last := &l.events[(l.next+len(l.events)-1)%len(l.events)]; (l.next > 0 || l.full) && last.sameHandOut(ev) {
		last.Count++
		l.mu.Unlock()
		return
	}
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
