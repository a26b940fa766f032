// Package tokensource holds the types that answer "give me a valid token"
// for a profile. Derived mints short-lived tokens from a long-lived root and
// renews them before they expire; everything else in the daemon only asks it
// for a token (golang.org/x/oauth2's ReuseTokenSource is the model).
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

// Token is a served token.
type Token struct {
	Value  string
	ID     string
	Expiry time.Time
}

// Minter creates and revokes tokens with the profile's root credential.
type Minter interface {
	Mint(ctx context.Context) (Token, error)
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
	// Persist saves a new token before it is served, so a restarted daemon
	// reuses it instead of minting (and leaking) another.
	Persist func(context.Context, Token) error
	// OnQuota frees token slots (revokes leftovers) before one retry.
	OnQuota func(context.Context) error
	// Limiter bounds concurrent mints across all sources; nil: no bound.
	Limiter chan struct{}
	// Lock, shared by every source of a profile and its leftover clean-up,
	// is held from mint until the new token is recorded as held, so the
	// clean-up never revokes a token that is minted but not yet recorded.
	Lock sync.Locker
	// MaxBackoff caps the wait between failed renewals (default 60 s).
	MaxBackoff time.Duration
	Log        *slog.Logger
	// CrashAt is a test hook, nil in production: renewal calls it with
	// "after-mint" once token/create has answered (nothing persisted yet)
	// and with "after-persist" once the token is kept (the superseded one
	// not yet revoked), so end-to-end tests can kill the daemon in exactly
	// the windows where a crash leaks a token (see daemon.CrashHookEnv).
	CrashAt func(point string)
}

// ErrNeedsLogin marks a root the workspace rejected.
var ErrNeedsLogin = errors.New("the workspace rejected the stored token")

// Derived serves a short-lived token minted from a root and keeps it fresh.
// One goroutine owns minting, so concurrent callers never mint twice.
type Derived struct {
	cfg  Config
	mint Minter

	mu       sync.Mutex
	cur      Token
	minted   time.Time
	renewAt  time.Time
	lastErr  error
	fatal    error
	failures int
	changed  chan struct{} // closed and replaced on every state change
	held     map[string]Token

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	revokes sync.WaitGroup
}

// NewDerived starts a source. initial, if still usable, is served until its
// renewal time instead of minting a new token at once.
func NewDerived(mint Minter, cfg Config, initial Token) *Derived {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.MinRemaining == 0 {
		cfg.MinRemaining = 2 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Derived{
		cfg: cfg, mint: mint, changed: make(chan struct{}), held: map[string]Token{},
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
		if d.usableAt(d.cur, now) {
			t := d.cur
			t.Expiry = d.advertisedExpiry(t, now)
			d.mu.Unlock()
			return t, nil
		}
		if d.fatal != nil {
			err := d.fatal
			d.mu.Unlock()
			return Token{}, err
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

// Refresh makes the next Token call return a newly minted token, unless
// the current one was minted within minAge (so a client cannot make the
// daemon mint in a loop). It reports whether a renewal was started.
func (d *Derived) Refresh(rejected string, minAge time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Clock.Now()
	if d.cur.Value == "" || (rejected != "" && rejected != d.cur.Value) {
		return false
	}
	if rejected == "" && now.Sub(d.minted) < minAge {
		return false
	}
	// The superseded token is still revoked after the grace period; a
	// rejected one is simply no longer served.
	d.cur = Token{}
	d.renewAt = now
	d.broadcast()
	d.poke()
	return true
}

// Status is a snapshot for status output.
type Status struct {
	Expiry      time.Time
	NextRenewal time.Time
	LastError   error
	NeedsLogin  bool
	Live        int
}

// Status describes the source.
func (d *Derived) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.lastErr
	if d.fatal != nil {
		err = d.fatal
	}
	return Status{Expiry: d.cur.Expiry, NextRenewal: d.renewAt, LastError: err, NeedsLogin: d.fatal != nil, Live: len(d.held)}
}

// Held lists the ids of tokens this source still owns (served or awaiting
// revocation): leftovers clean-up must spare them.
func (d *Derived) Held() map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]bool, len(d.held))
	for id := range d.held {
		out[id] = true
	}
	return out
}

// Close stops renewal. With revoke, every token the source still owns is
// revoked first (logout); without, they are left to expire (shutdown: the
// persisted one is reused by the next daemon).
func (d *Derived) Close(ctx context.Context, revoke bool) error {
	d.cancel()
	<-d.done
	d.revokes.Wait()
	if !revoke {
		return nil
	}
	d.mu.Lock()
	ids := make([]string, 0, len(d.held))
	for id := range d.held {
		ids = append(ids, id)
	}
	d.cur = Token{}
	d.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if err := d.mint.Revoke(ctx, id); err != nil && !notFound(err) {
			errs = append(errs, err)
			continue
		}
		d.mu.Lock()
		delete(d.held, id)
		d.mu.Unlock()
	}
	return errors.Join(errs...)
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

func (d *Derived) loop(ctx context.Context) {
	defer close(d.done)
	quotaRetried := false
	for {
		d.mu.Lock()
		now := d.cfg.Clock.Now()
		need := d.fatal == nil && (!d.usableAt(d.cur, now) || !now.Before(d.renewAt))
		wait := d.renewAt.Sub(now)
		fatal := d.fatal != nil
		d.mu.Unlock()
		if !need {
			var timer <-chan time.Time
			if !fatal {
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

// renew mints one token and makes it current.
func (d *Derived) renew(ctx context.Context) error {
	if d.cfg.Limiter != nil {
		select {
		case d.cfg.Limiter <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if d.cfg.Lock != nil {
		d.cfg.Lock.Lock()
		defer d.cfg.Lock.Unlock()
	}
	tok, err := d.mint.Mint(ctx)
	if d.cfg.Limiter != nil {
		<-d.cfg.Limiter
	}
	if err != nil {
		return err
	}
	d.crashAt("after-mint")
	if d.cfg.Persist != nil {
		if err := d.cfg.Persist(ctx, tok); err != nil {
			// Serving it anyway beats failing the client; if the daemon
			// dies now, the leftover clean-up revokes the token.
			d.cfg.Log.Warn("could not keep the new token in the keyring", "profile", d.cfg.Name, "err", err)
		}
	}
	d.crashAt("after-persist")
	d.mu.Lock()
	now := d.cfg.Clock.Now()
	d.cur, d.minted = tok, now
	d.held[tok.ID] = tok
	d.renewAt = d.nextRenewal(tok, now)
	d.lastErr, d.failures = nil, 0
	d.broadcast()
	// Superseded tokens not currently served (e.g. dropped by Refresh) are
	// in held too; revoke every one but the new token after the grace.
	var stale []Token
	for id, t := range d.held {
		if id != tok.ID {
			stale = append(stale, t)
		}
	}
	grace := d.grace(tok.Expiry.Sub(now))
	d.mu.Unlock()
	d.cfg.Log.Info("token renewed", "profile", d.cfg.Name, "expiry", tok.Expiry.UTC().Format(time.RFC3339), "next_renewal", d.renewAt.UTC().Format(time.RFC3339))
	for _, t := range stale {
		d.revokeLater(ctx, t, grace)
	}
	return nil
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

// revokeLater revokes t after grace; on shutdown it is left to expire (the
// next daemon's clean-up revokes it).
func (d *Derived) revokeLater(ctx context.Context, t Token, grace time.Duration) {
	d.mu.Lock()
	if _, ok := d.held[t.ID]; !ok {
		d.mu.Unlock()
		return
	}
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
			return
		}
		d.mu.Lock()
		delete(d.held, t.ID)
		d.mu.Unlock()
	}()
}

// backoff is exponential with jitter, at least what Retry-After asks.
func (d *Derived) backoff(attempt int, err error) time.Duration {
	base := time.Second << min(attempt-1, 10)
	delay := min(base, d.cfg.MaxBackoff)
	delay = delay/2 + time.Duration(rand.Float64()*float64(delay/2))
	var ae *workspace.APIError
	if errors.As(err, &ae) && ae.RetryAfter > delay {
		delay = ae.RetryAfter
	}
	return delay
}

// explain adds the fix to errors a user can act on.
func explain(err error) error {
	var ae *workspace.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 403 && ae.Code == "PERMISSION_DENIED":
			return fmt.Errorf("%w (the workspace does not let you create tokens: log in with --static to serve the stored token itself)", err)
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
