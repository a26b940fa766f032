package tokensource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/remotetext"
)

// Grant is a U2M login's state: its refresh token and the access token that
// came with it.
type Grant struct {
	RefreshToken string
	// Gen counts the refresh tokens of the login (1 for the login's own).
	// The stored grant carries it, and the in-flight record names the one
	// presented, so a restarted daemon can tell a refresh whose answer was
	// stored from one whose answer may have been lost.
	Gen    int64
	Access Token
	// Obtained is when Access was asked for, on our clock.
	Obtained time.Time
}

// RefreshTokenConfig says where and how a RefreshToken renews.
type RefreshTokenConfig struct {
	Name               string // for messages: the profile
	TokenURL, ClientID string
	RevocationURL      string // RFC 7009; empty when the workspace offers none
	Scopes             []string
	HTTPClient         *http.Client
	Clock              Clock
	Log                *slog.Logger
	// MaxLead: renew when fewer than this remain (default 5 minutes, as
	// the SDKs' u2m does), but never more than a third of the lifetime the
	// server granted, so short test lifetimes still leave a token time to
	// be used.
	MaxLead time.Duration
	// Intent records, before a refresh request leaves, that generation
	// gen is being presented (inFlight), and after a request that surely
	// never reached the server, that it is not. A restarted daemon that
	// finds the stored generation still marked in flight cannot know
	// whether the server rotated it, and must not present it again.
	Intent func(ctx context.Context, gen int64, inFlight bool) error
	// Persist stores g and reads it back. The new access token is served
	// only once it returns nil: the refresh token it came with is then the
	// only valid one, and a crash must not lose it.
	Persist func(ctx context.Context, g Grant) error
	// CrashAt is a test hook (see Config.CrashAt): "u2m-before-request",
	// "u2m-after-response", "u2m-after-persist".
	CrashAt func(point string)
}

// ErrRefreshRejected: the token endpoint refused the refresh token
// (invalid_grant: expired, revoked, or its family revoked after a reuse).
var ErrRefreshRejected = errors.New("the workspace refused the OAuth refresh token")

// ErrRefreshUnknown: a refresh request reached the server but no answer
// came back. The server may have rotated the refresh token; presenting the
// old one again would count as theft and revoke the whole login, so the
// source refuses to.
var ErrRefreshUnknown = errors.New("a refresh of the OAuth login got no answer")

// RevokedRefreshToken is the id Revoke reports for the refresh token.
const RevokedRefreshToken = "oauth-refresh-token"

// refreshTimeout bounds one refresh. It runs detached from the client
// that asked: a client hanging up mid-request must not leave an answer
// unread, which would cost the login (ErrRefreshUnknown).
const refreshTimeout = 60 * time.Second

// RefreshToken serves a user's OAuth access tokens (U2M) from a rotating
// refresh token, at most one refresh at a time: concurrent callers wait for
// the refresh in flight, and a forced refresh during one joins it.
//
// mu guards every field below it; a refresh runs in its own goroutine with
// mu released.
type RefreshToken struct {
	cfg    RefreshTokenConfig
	client *http.Client

	mu       sync.Mutex
	grant    Grant  // the stored grant, whose access token is served
	unsaved  *Grant // issued by the server but not yet stored: the only live refresh token
	jitter   time.Duration
	used     bool // a client took grant.Access: renew it in the background
	stale    bool // a forced refresh: serve grant.Access no more
	lastErr  error
	dead     error // the login is over (rejected or unknown): needs login
	retryAt  time.Time
	failures int
	fetching bool
	changed  chan struct{} // closed and replaced when a refresh ends
	stopped  bool
	done     chan struct{} // closed by Stop: the renewer ends
	wake     chan struct{}
}

var _ Source = (*RefreshToken)(nil)

// NewRefreshToken returns a source serving initial's access token (if any)
// and renewing it from initial's refresh token.
func NewRefreshToken(c RefreshTokenConfig, initial Grant) *RefreshToken {
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.MaxLead == 0 {
		c.MaxLead = 5 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	base := c.HTTPClient
	if base == nil {
		base = outbound.Client(refreshTimeout)
	}
	client := *base
	rt := client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	client.Transport = wroteTransport{rt}
	s := &RefreshToken{cfg: c, client: &client, grant: initial, changed: make(chan struct{}),
		done: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.jitter = s.jitterLocked()
	go s.renewer()
	return s
}

// Grant returns the stored grant (tests, and reading the state back).
func (s *RefreshToken) Grant() Grant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grant
}

// life is the lifetime granted to the served access token.
func (s *RefreshToken) lifeLocked() time.Duration {
	return s.grant.Access.Expiry.Sub(s.grant.Obtained)
}

func (s *RefreshToken) leadLocked() time.Duration {
	return min(s.cfg.MaxLead, s.lifeLocked()/3)
}

// jitterLocked spreads renewals so profiles logged in together do not all
// refresh in the same instant.
func (s *RefreshToken) jitterLocked() time.Duration {
	if lead := s.leadLocked(); lead >= 4 {
		return rand.N(lead / 4)
	}
	return 0
}

// renewAtLocked is when the served token is renewed in the background.
func (s *RefreshToken) renewAtLocked() time.Time {
	if s.grant.Access.Value == "" {
		return time.Time{}
	}
	return s.grant.Access.Expiry.Add(-s.leadLocked() - s.jitter)
}

// servableLocked: the served token has enough life left to hand out while
// a renewal runs.
func (s *RefreshToken) servableLocked(now time.Time) bool {
	a := s.grant.Access
	return a.Value != "" && !s.stale && now.Before(a.Expiry.Add(-s.leadLocked()/2))
}

// Token implements Source.
func (s *RefreshToken) Token(ctx context.Context) (Token, error) {
	// One pass decides under mu: serve the current token, start the one
	// refresh, or wait for the one in flight. A token with life left is
	// served while its renewal runs; an expired one waits for it.
	for {
		s.mu.Lock()
		now := s.cfg.Clock.Now()
		switch {
		case s.stopped:
			s.mu.Unlock()
			return Token{}, fmt.Errorf("%w: %s", ErrStopped, s.cfg.Name)
		case s.dead != nil:
			err := s.dead
			s.mu.Unlock()
			return Token{}, err
		}
		servable := s.servableLocked(now)
		if servable && (now.Before(s.renewAtLocked()) || s.fetching) {
			t, first := s.grant.Access, !s.used
			s.used = true
			s.mu.Unlock()
			if first {
				s.poke()
			}
			return t, nil
		}
		if !s.fetching {
			if now.Before(s.retryAt) && !servable {
				err := s.lastErr
				s.mu.Unlock()
				return Token{}, err
			}
			if !now.Before(s.retryAt) {
				s.startLocked()
			}
			if servable {
				s.used = true
				t := s.grant.Access
				s.mu.Unlock()
				return t, nil
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
			s.mu.Lock()
			err := s.lastErr
			ok := s.servableLocked(s.cfg.Clock.Now())
			s.mu.Unlock()
			if !ok && err != nil {
				return Token{}, err
			}
		case <-ctx.Done():
			return Token{}, fmt.Errorf("wait for an OAuth access token for %s: %w", s.cfg.Name, ctx.Err())
		}
	}
}

// startLocked starts the one refresh; mu is held.
func (s *RefreshToken) startLocked() {
	s.fetching = true
	go s.refresh()
}

func (s *RefreshToken) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	g, err := s.renew(ctx)
	s.mu.Lock()
	s.fetching = false
	now := s.cfg.Clock.Now()
	switch {
	case err == nil:
		s.grant, s.stale, s.used, s.lastErr, s.failures, s.retryAt = g, false, false, nil, 0, time.Time{}
		s.jitter = s.jitterLocked()
	case errors.Is(err, ErrRefreshRejected) || errors.Is(err, ErrRefreshUnknown):
		s.dead, s.lastErr = err, err
	default:
		s.lastErr = err
		s.failures++
		s.retryAt = now.Add(min(time.Second<<min(s.failures, 6), time.Minute))
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	if err != nil {
		s.cfg.Log.Warn("OAuth refresh failed", "profile", s.cfg.Name, "err", err)
	}
	s.poke()
}

// poke makes the renewer look at the schedule again.
func (s *RefreshToken) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// renew presents the refresh token and stores what comes back. An answer
// that could not be stored is kept in memory and stored before anything
// else on the next try: it holds the only valid refresh token.
func (s *RefreshToken) renew(ctx context.Context) (Grant, error) {
	s.mu.Lock()
	pending, cur := s.unsaved, s.grant
	s.mu.Unlock()
	if pending == nil {
		next, err := s.exchange(ctx, cur)
		if err != nil {
			return Grant{}, err
		}
		s.crash("u2m-after-response")
		s.mu.Lock()
		s.unsaved = &next
		s.mu.Unlock()
		pending = &next
	}
	if s.cfg.Persist != nil {
		if err := s.cfg.Persist(ctx, *pending); err != nil {
			return Grant{}, fmt.Errorf("store the new OAuth refresh token of %s (its access token is served once it is stored): %w", s.cfg.Name, err)
		}
	}
	s.crash("u2m-after-persist")
	s.mu.Lock()
	s.unsaved = nil
	s.mu.Unlock()
	return *pending, nil
}

// exchange is one refresh_token grant.
func (s *RefreshToken) exchange(ctx context.Context, cur Grant) (Grant, error) {
	if s.cfg.Intent != nil {
		if err := s.cfg.Intent(ctx, cur.Gen, true); err != nil {
			return Grant{}, fmt.Errorf("record the refresh of %s before sending it (nothing was sent): %w", s.cfg.Name, err)
		}
	}
	s.crash("u2m-before-request")
	var wrote atomic.Bool
	cfg := oauth2.Config{ClientID: s.cfg.ClientID, Scopes: s.cfg.Scopes,
		Endpoint: oauth2.Endpoint{TokenURL: s.cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams}}
	hctx := context.WithValue(context.WithValue(ctx, oauth2.HTTPClient, s.client), wroteKey{}, &wrote)
	asked := s.cfg.Clock.Now()
	ot, err := cfg.TokenSource(hctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client"):
			return Grant{}, fmt.Errorf("%w (%s): log in again", ErrRefreshRejected, re.ErrorCode)
		case errors.As(err, &re) && re.Response != nil && (re.Response.StatusCode == http.StatusBadGateway || re.Response.StatusCode == http.StatusGatewayTimeout):
			// A gateway's answer, not the server's: the request may have
			// reached the server and rotated the token all the same.
			return Grant{}, fmt.Errorf("%w: %s answered HTTP %d from a gateway, so the workspace may have rotated the refresh token; "+
				"presenting the old one again would make it revoke the whole login, so dbx-cred will not: log in again", ErrRefreshUnknown, s.cfg.TokenURL, re.Response.StatusCode)
		case errors.As(err, &re), !wrote.Load():
			// An error answer, or a request that never left: the refresh
			// token was not rotated and stays good.
			if s.cfg.Intent != nil {
				if ierr := s.cfg.Intent(ctx, cur.Gen, false); ierr != nil {
					s.cfg.Log.Warn("could not clear the record of a refresh that was not sent", "profile", s.cfg.Name, "err", ierr)
				}
			}
			return Grant{}, fmt.Errorf("refresh the OAuth access token of %s at %s: %w", s.cfg.Name, s.cfg.TokenURL, remotetext.Error(err))
		}
		return Grant{}, fmt.Errorf("%w: the request to %s was sent but no answer came (%v), so the workspace may have rotated the refresh token; "+
			"presenting the old one again would make it revoke the whole login, so dbx-cred will not: log in again", ErrRefreshUnknown, s.cfg.TokenURL, remotetext.Error(err))
	}
	life := AccessLifetime(ot)
	next := Grant{RefreshToken: ot.RefreshToken, Gen: cur.Gen + 1, Obtained: asked,
		Access: Token{Value: ot.AccessToken, Expiry: asked.Add(life)}}
	if next.RefreshToken == "" {
		// No rotation this time (oauth2 keeps the old one): it stays good.
		next.RefreshToken = cur.RefreshToken
	}
	return next, nil
}

// AccessLifetime is the life the server granted ot, from expires_in. An
// answer without one (Databricks always sends it) is taken for the usual
// hour, not for an expired token, which would refresh in a loop.
func AccessLifetime(ot *oauth2.Token) time.Duration {
	if in, ok := ot.Extra("expires_in").(float64); ok && in > 0 {
		return time.Duration(in) * time.Second
	}
	if ot.ExpiresIn > 0 {
		return time.Duration(ot.ExpiresIn) * time.Second
	}
	if life := time.Until(ot.Expiry); !ot.Expiry.IsZero() && life > 0 {
		return life
	}
	return time.Hour
}

func (s *RefreshToken) crash(point string) {
	if s.cfg.CrashAt != nil {
		s.cfg.CrashAt(point)
	}
}

// renewer refreshes in the background ahead of expiry, for tokens a
// client used: an idle login is refreshed on demand instead, so a profile
// nobody uses does not rotate its refresh token all day.
func (s *RefreshToken) renewer() {
	for {
		s.mu.Lock()
		wait := time.Hour
		if at := s.renewAtLocked(); s.used && !at.IsZero() && s.dead == nil {
			wait = max(at.Sub(s.cfg.Clock.Now()), s.retryAt.Sub(s.cfg.Clock.Now()), 100*time.Millisecond)
		}
		s.mu.Unlock()
		select {
		case <-s.done:
			return
		case <-s.wake:
			continue
		case <-s.cfg.Clock.After(wait):
		}
		s.mu.Lock()
		now := s.cfg.Clock.Now()
		if s.used && !s.fetching && !s.stopped && s.dead == nil && !now.Before(s.renewAtLocked()) && !now.Before(s.retryAt) {
			s.startLocked()
		}
		s.mu.Unlock()
	}
}

// Refresh implements Source. A refresh already in flight counts as the
// one asked for: forty clients forcing a refresh at once cost one.
func (s *RefreshToken) Refresh(rejected string, minAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.grant.Access
	if s.fetching || s.stopped || s.dead != nil || a.Value == "" || s.stale || (rejected != "" && rejected != a.Value) {
		return false
	}
	// Refresh tokens rotate at no cost to anyone, but a client must still
	// not make the daemon refresh in a loop: at most once per minAge, or a
	// quarter of the token's life when that is shorter.
	if s.cfg.Clock.Now().Sub(s.grant.Obtained) < min(minAge, s.lifeLocked()/4) {
		return false
	}
	s.stale = true
	return true
}

// Status implements Source.
func (s *RefreshToken) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Expiry: s.grant.Access.Expiry, NextRenewal: s.renewAtLocked(), LastError: s.lastErr, NeedsLogin: s.dead != nil}
}

// Held implements Source: access tokens are not workspace tokens.
func (s *RefreshToken) Held() map[string]bool { return nil }

// Stop implements Source. A refresh in flight still stores its answer: it
// holds the only valid refresh token.
func (s *RefreshToken) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
}

// Drain waits for a refresh in flight to end, stored or not. After Stop,
// nothing is sent or stored once it returns nil.
func (s *RefreshToken) Drain(ctx context.Context) error {
	for {
		s.mu.Lock()
		if !s.fetching {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for the refresh in flight of %s: %w", s.cfg.Name, ctx.Err())
		}
	}
}

// Revoke implements Source: it waits for a refresh in flight (so nothing
// is stored after it returns), then revokes the refresh token where the
// workspace offers revocation (RFC 7009), which also ends its access
// tokens there. Without a revocation endpoint it revokes nothing.
func (s *RefreshToken) Revoke(ctx context.Context) ([]string, error) {
	s.Stop()
	if err := s.Drain(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	rt := s.grant.RefreshToken
	if s.unsaved != nil {
		rt = s.unsaved.RefreshToken
	}
	s.mu.Unlock()
	if s.cfg.RevocationURL == "" || rt == "" {
		return nil, nil
	}
	form := url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}, "client_id": {s.cfg.ClientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.RevocationURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("revoke the OAuth refresh token of %s: %w", s.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("revoke the OAuth refresh token of %s at %s: %w", s.cfg.Name, s.cfg.RevocationURL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("revoke the OAuth refresh token of %s at %s: HTTP %d", s.cfg.Name, s.cfg.RevocationURL, resp.StatusCode)
	}
	return []string{RevokedRefreshToken}, nil
}

// wroteTransport tells a refresh whether its request left in full (see
// wroteKey): only a request that did can have rotated the refresh token.
type wroteTransport struct{ base http.RoundTripper }

type wroteKey struct{}

func (t wroteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if w, ok := r.Context().Value(wroteKey{}).(*atomic.Bool); ok {
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
			WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					w.Store(true)
				}
			},
		}))
	}
	return t.base.RoundTrip(r)
}
