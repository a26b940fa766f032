package audit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRingKeepsTheNewest(t *testing.T) {
	var buf bytes.Buffer
	l := New(3, slog.New(slog.NewTextHandler(&buf, nil)))
	if got := l.Recent(0); len(got) != 0 {
		t.Fatalf("empty log: %v", got)
	}
	for i := range 5 {
		l.Record(Event{Profile: fmt.Sprint(i), Channel: "token", Kind: "pat"})
	}
	names := func(evs []Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, e.Profile)
		}
		return strings.Join(s, ",")
	}
	if got := names(l.Recent(0)); got != "2,3,4" {
		t.Fatalf("Recent(0) = %s, want 2,3,4 (oldest first, newest last)", got)
	}
	if got := names(l.Recent(2)); got != "3,4" {
		t.Fatalf("Recent(2) = %s, want 3,4", got)
	}
	if got := names(l.Recent(10)); got != "2,3,4" {
		t.Fatalf("Recent(10) = %s", got)
	}
	if n := strings.Count(buf.String(), `msg="token served"`); n != 5 {
		t.Fatalf("%d log lines, want 5:\n%s", n, buf.String())
	}
}

func TestRecordLogsFacts(t *testing.T) {
	var buf bytes.Buffer
	l := New(0, slog.New(slog.NewTextHandler(&buf, nil)))
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l.Record(Event{Profile: "prod", Channel: "metadata", PeerUID: 1000, PeerPID: 42, PeerExe: "/usr/bin/python3", Kind: "pat", Expiry: exp})
	for _, s := range []string{"profile=prod", "channel=metadata", "peer_uid=1000", "peer_pid=42", "peer_exe=/usr/bin/python3", "kind=pat", "expiry=2030-01-02T03:04:05Z"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("log line lacks %s: %s", s, buf.String())
		}
	}
	if ev := l.Recent(1)[0]; ev.Time.IsZero() || len(l.events) != DefaultSize {
		t.Fatalf("event %+v, size %d", ev, len(l.events))
	}
}

// An SDK that asks twice for one call is one event with a count; another
// process, channel or token is an event of its own.
func TestRepeatedHandOutCountsIntoOneEvent(t *testing.T) {
	l := New(10, slog.New(slog.DiscardHandler))
	now := time.Now()
	ev := Event{Time: now, Profile: "prod", Channel: "metadata", PeerUID: 1, PeerPID: 42, Kind: "derived-pat", Expiry: now.Add(time.Hour)}
	l.Record(ev)
	ev.Time = now.Add(100 * time.Millisecond)
	l.Record(ev)
	other := ev
	other.PeerPID = 43
	l.Record(other)
	later := other
	later.Time = now.Add(3 * time.Second)
	l.Record(later)
	got := l.Recent(0)
	if len(got) != 3 || got[0].Count != 2 || got[1].Count != 1 || got[2].Count != 1 {
		t.Fatalf("events %+v", got)
	}
}
