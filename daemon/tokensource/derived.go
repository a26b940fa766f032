package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// Minted is what a Minter's workspace answered.
type Minted struct {
	Value, ID string
	// Lifetime is what the workspace granted: its expiry_time minus its
	// creation_time, both from the same answer, so no clock but the
	// workspace's own enters it.
	Lifetime time.Duration
}

// Minter creates and revokes tokens with the profile's root credential.
type Minter interface {
	Mint(ctx context.Context) (Minted, error)
	Revoke(ctx context.Context, id string) error
}

// Config tunes a Derived source. Zero values take the documented defaults.
type Config struct {
	Name string // for logs and errors, e.g. the profile name
	// Clock defaults to RealClock.
	Clock Clock
	// Grace is how long a superseded token stays alive for clients that just
	// read it (default: a tenth of its lifetime, at most 30 s).
	Grace time.Duration
	// MinRemaining: never hand out a token with less life left (default 2 s).
	MinRemaining time.Duration
	// MinInterval is the floor between two mints, whatever asks for them
	// (default 1 s): no path can make the source mint in a tight loop.
	MinInterval time.Duration
	// Lazy sources renew only when a client asked since their last mint
	// (scoped tokens: an unused scope set must not keep minting).
	Lazy bool
	// Persist saves a new token before it is served, so a restarted daemon
	// reuses it instead of minting (and leaking) another.
	Persist func(context.Context, Token) error
	// OnQuota frees token slots (revokes leftovers) before one retry.
	OnQuota func(context.Context) error
	// OnRevoked is told every id the source revoked, so that its owner never
	// serves a kept copy of it again.
	OnRevoked func(id string)
	// MintGate is read-locked from before a mint is sent until its token is
	// recorded as held. A clean-up of leftovers write-locks it between
	// listing the workspace's tokens and reading what is held, so a token
	// whose answer is still on its way is never taken for a leftover.
	MintGate interface {
		RLock()
		RUnlock()
	}
	// Limiter bounds concurrent mints across all sources; nil: no bound.
	Limiter chan struct{}
	// MaxBackoff caps the wait between failed renewals (default 60 s).
	MaxBackoff time.Duration
	Log        *slog.Logger
	// CrashAt is a test hook, nil in production: renewal calls it with
	// "after-mint" once token/create has answered (nothing persisted yet)
	// and with "after-persist" once the token is kept (the superseded one
	// not yet revoked), so end-to-end tests can kill the daemon in exactly
	// the windows where a crash leaks a token.
	CrashAt func(point string)
}

// ErrStopped: the source was stopped (its profile logged out or replaced)
// while a client waited; asking the profile again reaches its new source.
var ErrStopped = errors.New("the token source was stopped")

// ErrNeedsLogin marks a root the workspace rejected.
var ErrNeedsLogin = errors.New("the workspace rejected the stored token")

// Derived serves a short-lived token minted from a root and keeps it fresh.
// One goroutine (loop) owns minting, so concurrent callers never mint twice.
// mu guards every field below it; it is never held across a workspace or
// store call.
type Derived struct {
	cfg  Config
	mint Minter

	mu        sync.Mutex
	cur       Token
	minted    time.Time // when cur was requested, on our clock
	lastMint  time.Time // the last mint attempt, for MinInterval
	renewAt   time.Time
	used      bool // a client asked since renewal fell due (Lazy)
	lastErr   error
	fatal     error
	stopped   bool // the loop has ended: nothing will mint again
	failures  int
	changed   chan struct{} // closed and replaced on every state change
	held      map[string]Token
	scheduled map[string]bool      // ids with a revocation already planned
	adv       map[string]time.Time // the latest expiry told to clients, per id
	rejected  map[string]bool      // ids a client reported rejected

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	revokes sync.WaitGroup
}

var _ Source = (*Derived)(nil)

// NewDerived starts a source. initial, if still usable, is served until its
// renewal time instead of minting a new token at once.
func NewDerived(mint Minter, cfg Config, initial Token) *Derived {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.MinRemaining == 0 {
		cfg.MinRemaining = 2 * time.Second
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Derived{
		cfg: cfg, mint: mint, changed: make(chan struct{}), held: map[string]Token{}, scheduled: map[string]bool{},
		adv: map[string]time.Time{}, rejected: map[string]bool{},
		kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
	}
	now := cfg.Clock.Now()
	if initial.Value != "" && initial.ID != "" {
		d.held[initial.ID] = initial
		if d.usableAt(initial, now) {
			// Its mint time is unknown: counting its life from now
			// understates the grace, which only makes clients ask sooner.
			d.cur, d.minted = initial, now
			d.renewAt = d.nextRenewal(initial, now)
		}
	}
	go d.loop(ctx)
	return d
}

// Token returns a token with at least MinRemaining left, waiting for a
// renewal when there is none. It never returns an expired token.
func (d *Derived) Token(ctx context.Context) (Token, error) {
	for {
		d.mu.Lock()
		now := d.cfg.Clock.Now()
		if !d.used && (!now.Before(d.renewAt) || !d.usableAt(d.cur, now)) {
			// A lazy source renews only for a client that asks once renewal
			// is due: this one.
			d.used = true
			d.poke()
		}
		if d.usableAt(d.cur, now) {
			t := d.cur
			t.Expiry = d.advertisedExpiry(t, now)
			if t.Expiry.After(d.adv[t.ID]) {
				d.adv[t.ID] = t.Expiry
			}
			d.mu.Unlock()
			return t, nil
		}
		if d.fatal != nil {
			err := d.fatal
			d.mu.Unlock()
			return Token{}, err
		}
		if d.stopped {
			d.mu.Unlock()
			return Token{}, fmt.Errorf("%w: %s", ErrStopped, d.cfg.Name)
		}
		if d.lastErr != nil {
			err := d.lastErr
			d.mu.Unlock()
			return Token{}, fmt.Errorf("no valid token for %s: renewal is failing (retrying with backoff): %w", d.cfg.Name, err)
		}
		ch := d.changed
		d.mu.Unlock()
		d.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("wait for a token for %s: %w", d.cfg.Name, ctx.Err())
		}
	}
}

// Refresh implements Source.
func (d *Derived) Refresh(rejected string, minAge time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Clock.Now()
	if d.cur.Value == "" || (rejected != "" && rejected != d.cur.Value) || now.Sub(d.minted) < minAge {
		return false
	}
	if rejected == "" && len(d.held) > 1 {
		// A superseded token still awaits its revocation: one more would
		// make three alive for this source.
		return false
	}
	if rejected != "" {
		d.rejected[d.cur.ID] = true // no use keeping it alive for anyone
	}
	// The superseded token is still revoked after the grace period; a
	// rejected one is simply no longer served.
	d.cur = Token{}
	d.renewAt = now
	d.used = true
	d.broadcast()
	d.poke()
	return true
}

// mintTimeout bounds one token/create call, which Stop waits for.
const mintTimeout = 30 * time.Second

// LastAdvertised is the latest expiry told to clients for any token the
// source still holds: until then, revoking one may break a client.
func (d *Derived) LastAdvertised() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var last time.Time
	for id := range d.held {
		if d.adv[id].After(last) {
			last = d.adv[id]
		}
	}
	return last
}

// Status implements Source.
func (d *Derived) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.lastErr
	if d.fatal != nil {
		err = d.fatal
	}
	now := d.cfg.Clock.Now()
	idle := d.cfg.Lazy && !d.used && !d.usableAt(d.cur, now)
	return Status{Expiry: d.cur.Expiry, NextRenewal: d.renewAt, LastError: err, NeedsLogin: d.fatal != nil, Live: len(d.held), Idle: idle}
}

// Held implements Source.
func (d *Derived) Held() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool, len(d.held))
	for id := range d.held {
		out[id] = true
	}
	return out
}

// Stop implements Source.
func (d *Derived) Stop() {
	d.cancel()
	<-d.done
	d.revokes.Wait()
}

// Revoke implements Source.
func (d *Derived) Revoke(ctx context.Context) ([]string, error) {
	d.Stop()
	d.mu.Lock()
	ids := make([]string, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	d.cur = Token{}
	d.mu.Unlock()
	var errs []error
	var revoked []string
	for _, id := range ids {
		if err := d.mint.Revoke(ctx, id); err != nil && !notFound(err) {
			errs = append(errs, err)
			continue
		}
		d.forget(id)
		revoked = append(revoked, id)
	}
	return revoked, errors.Join(errs...)
}

func (d *Derived) forget(id string) {
	d.mu.Lock()
	delete(d.held, id)
	delete(d.scheduled, id)
	delete(d.adv, id)
	delete(d.rejected, id)
	d.mu.Unlock()
	if d.cfg.OnRevoked != nil {
		d.cfg.OnRevoked(id)
	}
}

// advertisedExpiry is the expiry clients are told: not the token's own, but
// the earliest moment it may be revoked, which is a grace period after its
// replacement (at renewal time, or now if renewal is already due). Clients
// that cache a token until shortly before its expiry (the SDKs do) thus ask
// again before it is revoked under them.
func (d *Derived) advertisedExpiry(t Token, now time.Time) time.Time {
	replaced := d.renewAt
	if now.After(replaced) {
		replaced = now
	}
	revoke := replaced.Add(d.grace(t.Expiry.Sub(d.minted)))
	if revoke.Before(t.Expiry) {
		return revoke
	}
	return t.Expiry
}

func (d *Derived) usableAt(t Token, now time.Time) bool {
	return t.Value != "" && now.Add(d.cfg.MinRemaining).Before(t.Expiry)
}

// nextRenewal is when about a third of the lifetime is left, minus up to a
// tenth more of random jitter so that many profiles spread out (Vault
// Agent's lifetime watcher does the same).
func (d *Derived) nextRenewal(t Token, now time.Time) time.Time {
	life := t.Expiry.Sub(now)
	if life <= 0 {
		return now
	}
	return t.Expiry.Add(-life / 3).Add(-time.Duration(rand.Float64() * float64(life) / 10))
}

func (d *Derived) broadcast() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Derived) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// due reports whether the loop should mint now, and otherwise how long it
// may sleep (0: until kicked).
func (d *Derived) due(now time.Time) (bool, time.Duration) {
	if d.fatal != nil {
		return false, 0
	}
	stale := !d.usableAt(d.cur, now) || !now.Before(d.renewAt)
	if !stale {
		return false, d.renewAt.Sub(now)
	}
	if d.cfg.Lazy && !d.used {
		return false, 0
	}
	if wait := d.lastMint.Add(d.cfg.MinInterval).Sub(now); wait > 0 {
		return false, wait
	}
	return true, 0
}

func (d *Derived) loop(ctx context.Context) {
	defer close(d.done)
	defer func() {
		d.mu.Lock()
		d.stopped = true
		d.broadcast() // wake clients waiting for a token that will not come
		d.mu.Unlock()
	}()
	quotaRetried := false
	for {
		d.mu.Lock()
		need, wait := d.due(d.cfg.Clock.Now())
		d.mu.Unlock()
		if !need {
			var timer <-chan time.Time
			if wait > 0 {
				timer = d.cfg.Clock.After(wait)
			}
			select {
			case <-ctx.Done():
				return
			case <-d.kick:
			case <-timer:
			}
			continue
		}
		err := d.renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			quotaRetried = false
			continue
		}
		var ae *workspace.APIError
		isAPI := errors.As(err, &ae)
		switch {
		case isAPI && ae.Rejected():
			d.mu.Lock()
			d.fatal = fmt.Errorf("%w of profile %s (revoked or expired): run dbx-cred login -p %s --host <workspace URL> again",
				ErrNeedsLogin, d.cfg.Name, d.cfg.Name)
			d.broadcast()
			d.mu.Unlock()
			d.cfg.Log.Error("root token rejected; profile needs login", "profile", d.cfg.Name)
			continue
		case isAPI && ae.Code == "QUOTA_EXCEEDED" && !quotaRetried && d.cfg.OnQuota != nil:
			quotaRetried = true
			d.cfg.Log.Warn("token quota exceeded; revoking leftovers, then retrying once", "profile", d.cfg.Name)
			if gcErr := d.cfg.OnQuota(ctx); gcErr != nil {
				d.cfg.Log.Warn("leftover clean-up failed", "profile", d.cfg.Name, "err", gcErr)
			}
			continue
		}
		d.mu.Lock()
		d.failures++
		d.lastErr = explain(err)
		delay := d.backoff(d.failures, err)
		d.broadcast()
		d.mu.Unlock()
		d.cfg.Log.Warn("token renewal failed; backing off", "profile", d.cfg.Name, "attempt", d.failures, "retry_in", delay, "err", err)
		// Kicks are not honoured while backing off: a crowd of waiting
		// clients must not turn into a crowd of requests.
		select {
		case <-ctx.Done():
			return
		case <-d.cfg.Clock.After(delay):
		}
	}
}

// errShortLived: the workspace granted a token too short to serve. Treated
// like any failed renewal (backoff), never as a reason to mint again at once.
var errShortLived = errors.New("the workspace granted a token too short-lived to serve")

// renew mints one token and makes it current.
func (d *Derived) renew(ctx context.Context) error {
	if d.cfg.Limiter != nil {
		select {
		case d.cfg.Limiter <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	tok, sent, lifetime, err := d.mintHeld(ctx)
	if d.cfg.Limiter != nil {
		<-d.cfg.Limiter
	}
	if err != nil {
		return err
	}
	d.crashAt("after-mint")
	now := d.cfg.Clock.Now()
	if !d.usableAt(tok, now.Add(d.cfg.MinRemaining)) {
		d.revokeLater(ctx, tok, 0)
		return fmt.Errorf("%w (%s granted, asked at %s)", errShortLived, lifetime, sent.UTC().Format(time.RFC3339))
	}
	if d.cfg.Persist != nil {
		if err := d.cfg.Persist(ctx, tok); err != nil {
			// Serving it anyway beats failing the client; if the daemon
			// dies now, the leftover clean-up revokes the token.
			d.cfg.Log.Warn("could not keep the new token in the keyring", "profile", d.cfg.Name, "err", err)
		}
	}
	d.crashAt("after-persist")
	d.mu.Lock()
	now = d.cfg.Clock.Now()
	d.cur, d.minted = tok, sent
	d.renewAt = d.nextRenewal(tok, now)
	d.lastErr, d.failures, d.used = nil, 0, false
	d.broadcast()
	// Superseded tokens not currently served (e.g. dropped by Refresh) are
	// in held too; revoke every one but the new token after the grace.
	var stale []Token
	for id, t := range d.held {
		if id != tok.ID {
			stale = append(stale, t)
		}
	}
	grace := d.grace(tok.Expiry.Sub(sent))
	next := d.renewAt
	delays := make([]time.Duration, len(stale))
	for i, t := range stale {
		// Not before the expiry clients were told (a forced refresh may
		// supersede a token before its planned renewal), unless a client
		// reported it rejected.
		switch {
		case d.rejected[t.ID]:
			delays[i] = 0
		case d.adv[t.ID].Sub(now) > grace:
			delays[i] = d.adv[t.ID].Sub(now)
		default:
			delays[i] = grace
		}
	}
	d.mu.Unlock()
	d.cfg.Log.Info("token renewed", "profile", d.cfg.Name, "lifetime", lifetime, "next_renewal", next.UTC().Format(time.RFC3339))
	for i, t := range stale {
		d.revokeLater(ctx, t, delays[i])
	}
	return nil
}

// mintHeld mints one token and records it as held before the mint gate
// opens again. Its expiry counts the granted lifetime from when we asked:
// the token was created after that, so it is never later than the
// workspace's own.
func (d *Derived) mintHeld(ctx context.Context) (Token, time.Time, time.Duration, error) {
	if g := d.cfg.MintGate; g != nil {
		g.RLock()
		defer g.RUnlock()
	}
	sent := d.cfg.Clock.Now()
	d.mu.Lock()
	d.lastMint = sent
	d.mu.Unlock()
	// Not cancelled by Stop: a mint aborted half-way may still create a
	// token whose answer we never read, which nobody would then revoke.
	// Stop waits for it instead (bounded), and Revoke then revokes it.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mintTimeout)
	defer cancel()
	m, err := d.mint.Mint(mctx)
	if err != nil {
		return Token{}, sent, 0, err
	}
	tok := Token{Value: m.Value, ID: m.ID, Expiry: sent.Add(m.Lifetime)}
	d.mu.Lock()
	d.held[tok.ID] = tok
	d.mu.Unlock()
	return tok, sent, m.Lifetime, nil
}

func (d *Derived) crashAt(point string) {
	if d.cfg.CrashAt != nil {
		d.cfg.CrashAt(point)
	}
}

// grace is how long a superseded token of the given lifetime stays alive.
func (d *Derived) grace(lifetime time.Duration) time.Duration {
	if d.cfg.Grace > 0 {
		return d.cfg.Grace
	}
	return min(lifetime/10, 30*time.Second)
}

// revokeLater revokes t after grace, once: a token whose revocation is
// already planned is not planned again. On shutdown it is left to expire
// (the next daemon's clean-up revokes it).
func (d *Derived) revokeLater(ctx context.Context, t Token, grace time.Duration) {
	d.mu.Lock()
	if _, ok := d.held[t.ID]; !ok || d.scheduled[t.ID] {
		d.mu.Unlock()
		return
	}
	d.scheduled[t.ID] = true
	d.mu.Unlock()
	d.revokes.Add(1)
	go func() {
		defer d.revokes.Done()
		select {
		case <-ctx.Done():
			return
		case <-d.cfg.Clock.After(grace):
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := d.mint.Revoke(rctx, t.ID); err != nil && !notFound(err) {
			d.cfg.Log.Warn("could not revoke a superseded token; the clean-up pass will retry", "profile", d.cfg.Name, "token_id", t.ID, "err", err)
			d.mu.Lock()
			delete(d.scheduled, t.ID)
			d.mu.Unlock()
			return
		}
		d.forget(t.ID)
	}()
}

// backoff is exponential with jitter, at least what Retry-After asks, and
// never less than MinInterval.
func (d *Derived) backoff(attempt int, err error) time.Duration {
	base := time.Second << min(attempt-1, 10)
	delay := min(base, d.cfg.MaxBackoff)
	delay = delay/2 + time.Duration(rand.Float64()*float64(delay/2))
	var ae *workspace.APIError
	if errors.As(err, &ae) && ae.RetryAfter > delay {
		delay = ae.RetryAfter
	}
	return max(delay, d.cfg.MinInterval)
}

// explain adds the fix to errors a user can act on.
func explain(err error) error {
	var ae *workspace.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 403 && ae.Code == "PERMISSION_DENIED":
			return fmt.Errorf("%w (the workspace does not let you create tokens: log in with --static to serve the stored token itself)", err)
		case ae.Code == "QUOTA_EXCEEDED":
			return fmt.Errorf("%w (this user holds the most tokens the workspace allows: revoke unused ones in the workspace, User Settings > Developer > Access tokens)", err)
		case ae.Status == 400 && ae.Code == "INVALID_PARAMETER_VALUE":
			return fmt.Errorf("%w (the workspace refused the token request: a lifetime over its maximum, or scopes it does not support)", err)
		}
	}
	return err
}

func notFound(err error) bool {
	var ae *workspace.APIError
	return errors.As(err, &ae) && (ae.Status == 404 || ae.Code == "RESOURCE_DOES_NOT_EXIST")
}
