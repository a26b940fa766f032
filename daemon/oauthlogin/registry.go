package oauthlogin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

const (
	// MaxLogins bounds logins waiting for a browser: each holds a
	// localhost port from a range of 21, which other tools use too.
	MaxLogins = 4
	// DefaultAwaitWithin: a login whose helper never asks for its outcome
	// (it crashed between the two calls) gives its port back this soon
	// rather than after the full five minutes.
	DefaultAwaitWithin = 30 * time.Second
)

// Errors of the login registry.
var (
	ErrUnknownLogin  = errkind.New(errkind.NotFound, "no such OAuth login")
	ErrTooManyLogins = errkind.New(errkind.Busy, "too many OAuth logins in progress")
	ErrLoginAwaited  = errkind.New(errkind.Conflict, "OAuth login already awaited")
)

// RegistryConfig tunes the logins; zero fields keep the defaults (ports
// 8020-8040, DefaultTimeout for the browser, DefaultAwaitWithin for the
// helper to ask for the outcome). HTTPClient and Log are required.
type RegistryConfig struct {
	FirstPort, LastPort int
	Timeout             time.Duration
	AwaitWithin         time.Duration
	HTTPClient          *http.Client
	Log                 *slog.Logger
}

// Registry owns the logins between their start and the end of the one
// call that awaits each: a login is begun by one request and finished by
// another, so something must hold it in between, and nothing else knows
// the logins. Safe for concurrent use.
type Registry struct {
	cfg RegistryConfig

	mu       sync.Mutex
	byID     map[string]*Pending
	starting int // Begin calls past the limit check, not yet registered
}

// Target is what a login is for.
type Target struct {
	Profile, Host, AccountID string
	Insecure                 bool
	Scopes                   []string
}

// Pending is a started login and what finishing it needs.
type Pending struct {
	Target
	Login     *Login
	Endpoints Endpoints

	awaited   bool
	unclaimed *time.Timer // cancels the login when nobody awaits it
}

// NewRegistry is an empty registry.
func NewRegistry(cfg RegistryConfig) *Registry {
	if cfg.AwaitWithin <= 0 {
		cfg.AwaitWithin = DefaultAwaitWithin
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Registry{cfg: cfg, byID: map[string]*Pending{}}
}

// Begin discovers t's endpoints, starts the login (its callback listener
// opens) and registers it: the caller hands the id to whoever will Take it.
func (r *Registry) Begin(ctx context.Context, t Target) (id string, p *Pending, err error) {
	if err := r.reserve(); err != nil {
		return "", nil, err
	}
	registered := false
	defer func() {
		if !registered {
			r.unreserve()
		}
	}()
	ep, err := Discover(ctx, r.cfg.HTTPClient, t.Host, t.AccountID)
	if err != nil {
		return "", nil, err
	}
	l, err := Start(ctx, Config{
		Endpoints: ep, Scopes: t.Scopes, FirstPort: r.cfg.FirstPort, LastPort: r.cfg.LastPort,
		Timeout: r.cfg.Timeout, HTTPClient: r.cfg.HTTPClient, Log: r.cfg.Log,
	})
	if err != nil {
		return "", nil, err
	}
	p = &Pending{Target: t, Login: l, Endpoints: ep}
	id = r.add(p)
	registered = true
	return id, p, nil
}

// reserve claims a place for a login about to start; unreserve or add
// gives it back.
func (r *Registry) reserve() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.byID)+r.starting >= MaxLogins {
		return fmt.Errorf("%w: %d logins are already waiting for a browser; finish or interrupt one (Ctrl-C where it runs), "+
			"or wait up to %s for an abandoned one to expire, then log in again", ErrTooManyLogins, MaxLogins, r.cfg.Timeout)
	}
	r.starting++
	return nil
}

func (r *Registry) unreserve() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starting--
}

// add registers p in the place reserve claimed and returns its id. A
// login nobody awaits in time is closed and forgotten.
func (r *Registry) add(p *Pending) string {
	id := randomID()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starting--
	r.byID[id] = p
	p.unclaimed = time.AfterFunc(r.cfg.AwaitWithin, func() {
		r.mu.Lock()
		own := r.byID[id] == p && !p.awaited
		if own {
			delete(r.byID, id)
		}
		r.mu.Unlock()
		if own {
			p.Login.Close()
			r.cfg.Log.Info("OAuth login cancelled: nobody awaited it", "profile", p.Profile, "login_id", id, "after", r.cfg.AwaitWithin)
		}
	})
	return id
}

// Take hands the login to its one awaiting call, which must Drop it.
func (r *Registry) Take(id string) (*Pending, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.byID[id]
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w %q is waiting: it finished, was cancelled, or was not awaited within %s of starting; log in again",
			ErrUnknownLogin, id, r.cfg.AwaitWithin)
	case p.awaited:
		return nil, fmt.Errorf("%w: login %q is being awaited by another call; only one may wait for it", ErrLoginAwaited, id)
	}
	p.awaited = true
	p.unclaimed.Stop()
	return p, nil
}

// Drop forgets the login and frees its port.
func (r *Registry) Drop(id string, p *Pending) {
	r.mu.Lock()
	if r.byID[id] == p {
		delete(r.byID, id)
	}
	r.mu.Unlock()
	p.Login.Close()
}

// HTTPClient is the client logins use for discovery and the token
// endpoint, for callers that talk to the same servers outside a login.
func (r *Registry) HTTPClient() *http.Client { return r.cfg.HTTPClient }

// Awaited reports whether a call has taken login id (for tests and status).
func (r *Registry) Awaited(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.byID[id]
	return p != nil && p.awaited
}

// randomID names a login. It need not be secret (only the daemon's uid
// reaches the socket), only unguessable enough never to collide.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
