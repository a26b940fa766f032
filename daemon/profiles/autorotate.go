package profiles

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
)

// Automatic root replacement. A root dbx-cred created (rotate, login
// --adopt) has a known id and expiry; left alone it expires on its own
// schedule and every client stops at once, so the rotator replaces it
// before: see rootDue for when. Pasted roots have no known expiry (the
// Token API lists ids, never values, so they cannot be matched) and are not
// touched.
const (
	// rotateRetryMin and rotateRetryMax bound the back-off after a failed
	// automatic rotate; it never waits past half the root's remaining life.
	rotateRetryMin = time.Minute
	rotateRetryMax = time.Hour
	// rotateRecheck bounds every wait: a machine that slept (the monotonic
	// timers stop, the wall clock does not) finds due roots within it.
	rotateRecheck = time.Minute
	// rotateTimeout bounds one automatic rotate.
	rotateTimeout = 2 * time.Minute
)

// rotator is the one owner of the automatic rotation schedule: run (one
// goroutine, from Manager.Run) decides when each root is due and rotates
// it; status reads what it last did through report.
type rotator struct {
	m     *Manager
	clock tokensource.Clock
	// kick wakes run when the registry changed (a login, a rotate), so a
	// new root's schedule is computed at once. Buffered, one deep.
	kick chan struct{}

	// mu guards state; a leaf: nothing else is taken under it, and it is
	// never held across a rotate.
	mu    sync.Mutex
	state map[string]rotState // by profile name
}

// rotState is what the rotator knows of one profile's root beyond the
// registry: its failures. It is about the root with id root only; a new
// root starts afresh.
type rotState struct {
	root     string
	failures int
	retryAt  time.Time
	lastErr  string
	// stuck: no rotate can succeed (the root expired or was rejected);
	// only a login, which brings a new root, ends it.
	stuck bool
}

func newRotator(m *Manager, clock tokensource.Clock) *rotator {
	return &rotator{m: m, clock: clock, kick: make(chan struct{}, 1), state: map[string]rotState{}}
}

// wake makes run look at the schedule again now.
func (r *rotator) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// autoRotated reports whether p's root is replaced automatically.
func autoRotated(p registry.Profile) bool {
	return credentialOf(p).autoRotated(p)
}

// run rotates due roots until ctx ends. A daemon started after a root was
// due (it was down) rotates it at once; one whose root already expired
// cannot, and says that a login is needed.
func (r *rotator) run(ctx context.Context) {
	for {
		next := r.pass(ctx)
		wait := rotateRecheck
		if !next.IsZero() {
			wait = min(max(next.Sub(r.clock.Now()), 0), rotateRecheck)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-r.clock.After(wait):
		}
	}
}

// pass rotates every root that is due and returns when the next one is
// (zero: none is scheduled).
func (r *rotator) pass(ctx context.Context) time.Time {
	r.m.mu.RLock()
	metas := make([]registry.Profile, 0, len(r.m.owners))
	for _, o := range r.m.owners {
		metas = append(metas, o.snapshot())
	}
	r.m.mu.RUnlock()
	r.forgetGone(metas)
	var next time.Time
	for _, p := range metas {
		if ctx.Err() != nil {
			return time.Time{}
		}
		at, ok := r.dueAt(p)
		if !ok {
			continue
		}
		if now := r.clock.Now(); now.Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		if retry := r.rotateOne(ctx, p); !retry.IsZero() && (next.IsZero() || retry.Before(next)) {
			next = retry
		}
	}
	return next
}

// dueAt is when p's root is next to be tried, and whether it is at all.
func (r *rotator) dueAt(p registry.Profile) (time.Time, bool) {
	if !autoRotated(p) {
		return time.Time{}, false
	}
	r.mu.Lock()
	st := r.state[p.Name]
	r.mu.Unlock()
	if st.root != p.RootID {
		st = rotState{}
	}
	if st.stuck {
		return time.Time{}, false
	}
	at := rootDue(p)
	if st.retryAt.After(at) {
		at = st.retryAt
	}
	return at, true
}

// rotateOne replaces p's root and records the outcome; on a failure that
// may pass it returns when to try again.
func (r *rotator) rotateOne(ctx context.Context, p registry.Profile) time.Time {
	now := r.clock.Now()
	r.mu.Lock()
	st := r.state[p.Name]
	r.mu.Unlock()
	if st.root != p.RootID {
		st = rotState{root: p.RootID}
	}
	log := r.m.env.log
	if !now.Before(p.RootExpiry) {
		st.stuck = true
		st.lastErr = fmt.Sprintf("the root token expired on %s before it could be replaced (was the daemon stopped?): run %s --adopt",
			p.RootExpiry.UTC().Format(time.RFC3339), loginCommand(p))
		r.set(p.Name, st)
		log.Warn("root token expired before its automatic replacement", "profile", p.Name, "expired", p.RootExpiry)
		return time.Time{}
	}
	rctx, cancel := context.WithTimeout(ctx, rotateTimeout)
	res, err := r.m.rotate(rctx, p.Name, rotateHow{auto: true, root: p.RootID})
	cancel()
	switch {
	case err == nil:
		r.mu.Lock()
		delete(r.state, p.Name)
		r.mu.Unlock()
		log.Info("root token replaced automatically", "profile", p.Name, "result", res.Message)
		return time.Time{}
	case errors.Is(err, errNotDue), ctx.Err() != nil:
		return time.Time{}
	case errors.Is(err, ErrNeedsLogin):
		st.stuck = true
	default:
		st.failures++
		wait := min(rotateRetryMin<<min(st.failures-1, 10), rotateRetryMax)
		// Never sleep through the root's last chance.
		wait = max(min(wait, p.RootExpiry.Sub(now)/2), time.Second)
		st.retryAt = now.Add(wait)
	}
	st.lastErr = err.Error()
	r.set(p.Name, st)
	log.Warn("automatic root rotation failed", "profile", p.Name, "retry_at", st.retryAt, "needs_login", st.stuck, "err", err)
	return st.retryAt
}

func (r *rotator) set(name string, st rotState) {
	r.mu.Lock()
	r.state[name] = st
	r.mu.Unlock()
}

// forgetGone drops the state of profiles that no longer exist.
func (r *rotator) forgetGone(metas []registry.Profile) {
	names := make(map[string]bool, len(metas))
	for _, p := range metas {
		names[p.Name] = true
	}
	r.mu.Lock()
	for n := range r.state {
		if !names[n] {
			delete(r.state, n)
		}
	}
	r.mu.Unlock()
}

// report is, for status, when p's root is next replaced (zero: not
// automatically) and why the last automatic attempt failed.
func (r *rotator) report(p registry.Profile) (next time.Time, lastErr string) {
	at, ok := r.dueAt(p)
	r.mu.Lock()
	st := r.state[p.Name]
	r.mu.Unlock()
	if st.root == p.RootID {
		lastErr = st.lastErr
	}
	if !ok {
		return time.Time{}, lastErr
	}
	return at, lastErr
}
