// Package tokensource holds the leaf types that answer "give me a valid
// token" for one credential of a profile (golang.org/x/oauth2's TokenSource
// is the model): Static serves a stored token as it is, Derived mints
// short-lived tokens from a long-lived root and renews them before they
// expire. The profile that owns a source only ever asks it for a token;
// how that token is made is the leaf's business alone, so a new kind of
// credential is one more leaf, not a change to the others.
package tokensource

import (
	"context"
	"time"
)

// Token is a served token.
type Token struct {
	Value string
	// ID is the workspace's token id; empty for a stored token.
	ID string
	// Expiry is on this machine's clock: when the token stops being usable,
	// counted from when it was requested for the lifetime the workspace
	// granted (never the workspace's absolute expiry_time, which a skewed
	// local clock would misread). Zero: does not expire.
	Expiry time.Time
}

// Status is a snapshot for status output.
type Status struct {
	Expiry      time.Time
	NextRenewal time.Time
	LastError   error
	NeedsLogin  bool
	// Live counts the workspace tokens the source still owns.
	Live int
	// Idle: the source renews only on demand and nobody asked since its
	// last token, which has expired; its owner may retire it.
	Idle bool
}

// TokenSource gives a valid token, and nothing else: what a request needs,
// as x/oauth2's TokenSource is one method. A stored token is served by one.
type TokenSource interface {
	// Token returns a token that stays usable for a little while yet.
	Token(ctx context.Context) (Token, error)
}

// Lifecycle is what the owner of a renewing source does with it besides
// asking for tokens. A source that renews nothing (Static) has none.
type Lifecycle interface {
	// Refresh makes the next Token return a new token, unless the current
	// one is younger than minAge (so no client can make the source mint in
	// a loop). With rejected set, only if that is the token being served.
	// It reports whether a renewal was started.
	Refresh(rejected string, minAge time.Duration) bool
	Status() Status
	// Held lists the ids of workspace tokens the source still owns, which a
	// clean-up of leftovers must spare.
	Held() map[string]bool
	// Stop ends renewal and leaves every token to expire (daemon shutdown:
	// a kept one is reused by the next daemon).
	Stop()
	// Revoke ends renewal and revokes every token the source owns, returning
	// the ids revoked (logout, re-login, retirement).
	Revoke(ctx context.Context) ([]string, error)
}

// Source is a renewing source: its tokens and its lifecycle. Every
// implementation is safe for concurrent use.
type Source interface {
	TokenSource
	Lifecycle
}

// Static serves a stored token as it is: a PAT logged in with --static. It
// renews, holds and revokes nothing (the token was pasted by the user, who
// alone decides to revoke it), so it has no Lifecycle.
type Static struct{ value string }

// NewStatic returns a Static serving value.
func NewStatic(value string) *Static { return &Static{value: value} }

// Token implements TokenSource.
func (s *Static) Token(context.Context) (Token, error) { return Token{Value: s.value}, nil }
