package tokensource

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestCrashHookPoints pins where the test crash hook fires: "after-mint"
// once the new token exists but nothing is persisted, "after-persist" once
// it is persisted but the superseded token is still alive. The e2e kill
// tests rely on exactly these windows.
func TestCrashHookPoints(t *testing.T) {
	r := newRig(t, 1)
	var mu sync.Mutex
	var events []string
	persisted := 0
	cfg := Config{
		Persist: func(context.Context, Token) error {
			mu.Lock()
			defer mu.Unlock()
			persisted++
			events = append(events, "persist")
			return nil
		},
		CrashAt: func(point string) {
			mu.Lock()
			defer mu.Unlock()
			live := r.liveDerived()
			switch point {
			case "after-mint":
				// Minted (live in the workspace) and not yet persisted.
				if live < 1 {
					t.Errorf("after-mint: %d minted tokens live", live)
				}
			case "after-persist":
				if persisted == 0 {
					t.Error("after-persist fired before anything was persisted")
				}
			default:
				t.Errorf("unknown crash point %q", point)
			}
			events = append(events, point)
		},
	}
	d := r.source(cfg, time.Hour)
	defer d.Revoke(context.Background())
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := len(r.emu.LiveTokens(r.user))
	// A second renewal: the superseded token must still be alive when the
	// hook fires after persisting (it is revoked only after the grace).
	d.Refresh("", 0)
	if _, err := d.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	supersededAlive := len(r.emu.LiveTokens(r.user)) == first+1
	mu.Lock()
	defer mu.Unlock()
	want := []string{"after-mint", "persist", "after-persist", "after-mint", "persist", "after-persist"}
	if !slices.Equal(events, want) {
		t.Fatalf("events %v, want %v", events, want)
	}
	if !supersededAlive {
		t.Error("the superseded token was revoked before its grace period")
	}
}
