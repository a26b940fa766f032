package tokensource

import "time"

// Clock is time as renewal sees it. Tests pass a faster clock, shared with
// the workspace emulator, to run hundreds of rotations in seconds.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Scaled runs Speed times faster than the wall clock from Start on.
type Scaled struct {
	Start time.Time
	Speed float64
}

// Now implements Clock.
func (s Scaled) Now() time.Time {
	return s.Start.Add(time.Duration(float64(time.Since(s.Start)) * s.Speed))
}

// After implements Clock.
func (s Scaled) After(d time.Duration) <-chan time.Time {
	return time.After(time.Duration(float64(d) / s.Speed))
}
