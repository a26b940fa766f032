package profiles

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// TestRootExpiryWarning checks the warning status shows for a root that
// dbx-cred rotate created (the only kind whose expiry is known), without
// waiting 76 days: the registry entry's RootExpiry is set directly.
func TestRootExpiryWarning(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, store.NewMemory())
	if _, _, err := m.Login(ctx, "prod", "https://ws.example.com", "dapi-good", static); err != nil {
		t.Fatal(err)
	}
	e, err := m.lookup("prod")
	if err != nil {
		t.Fatal(err)
	}
	setExpiry := func(at time.Time) {
		e.mu.Lock()
		e.meta.RootExpiry = at
		e.mu.Unlock()
	}
	now := time.Now()
	for _, c := range []struct {
		name   string
		expiry time.Time
		warn   bool
	}{
		{"unknown expiry (a pasted root)", time.Time{}, false},
		{"90 days ahead (just rotated)", now.Add(90 * 24 * time.Hour), false},
		{"15 days ahead", now.Add(15 * 24 * time.Hour), false},
		{"13 days ahead", now.Add(13 * 24 * time.Hour), true},
		{"10 days ahead", now.Add(10 * 24 * time.Hour), true},
		{"already expired", now.Add(-time.Hour), true}, // rotate cannot help: login --adopt
	} {
		setExpiry(c.expiry)
		got := m.List()[0].RootWarning
		if !c.warn {
			if got != "" {
				t.Errorf("%s: warning %q, want none", c.name, got)
			}
			continue
		}
		fix := "dbx-cred rotate -p prod"
		if c.expiry.Before(now) {
			fix = "dbx-cred login -p prod --host https://ws.example.com --adopt"
		}
		if !strings.Contains(got, fix) || !strings.Contains(got, c.expiry.UTC().Format(time.DateOnly)) {
			t.Errorf("%s: warning %q, want the date and the fix", c.name, got)
		}
	}

	// The boundary, on a fixed clock: exactly 14 days left no longer warns.
	var p registry.Profile
	p.Name, p.RootExpiry = "prod", now.Add(rootWarnAhead)
	if w := rootWarning(p, now, time.Time{}, ""); w != "" {
		t.Errorf("exactly %s ahead: warning %q", rootWarnAhead, w)
	}
	p.RootExpiry = now.Add(rootWarnAhead - time.Second)
	if rootWarning(p, now, time.Time{}, "") == "" {
		t.Errorf("a second under %s ahead: no warning", rootWarnAhead)
	}
}
