package profiles

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// Profile modes.
const (
	ModeRotating = "rotating"
	ModeStatic   = "static"
)

// Registry kinds: what the store holds for a profile.
const (
	// KindPAT: a personal access token.
	KindPAT = "pat"
	// KindOAuthM2M: a service principal's OAuth client secret; clients get
	// access tokens from the client_credentials grant.
	KindOAuthM2M = "oauth-m2m"
	// KindOAuthU2M: a user's OAuth refresh token (authorization code +
	// PKCE); clients get access tokens from the refresh_token grant.
	KindOAuthU2M = "oauth-u2m"
	// KindOIDCFederation: workload identity federation; nothing is
	// stored: clients get access tokens exchanged for a CI system's ID
	// token, which the daemon asks its source for at each exchange.
	KindOIDCFederation = "oidc-federation"
)

// Token lifetimes and bounds.
const (
	DefaultLifetime = time.Hour
	MinLifetime     = 10 * time.Second
	// RootLifetime is the life of a root that dbx-cred rotate creates.
	RootLifetime = 90 * 24 * time.Hour
	// rootWarnAhead is how early status warns of an expiring root.
	rootWarnAhead = 14 * 24 * time.Hour
	// refreshMinAge stops clients from making the daemon mint in a loop:
	// forced refreshes and rejection reports alike. It is at least the
	// longest grace a superseded token gets (30 s), so a forced refresh
	// never makes a third token alive beside the current one and one in
	// its grace.
	refreshMinAge = 30 * time.Second
	// MaxScopedSources bounds the scope sets a profile keeps a token for;
	// the least recently used is retired (its token revoked) to make room,
	// so no number of distinct --scope requests can exhaust the quota.
	MaxScopedSources = 16
	// persistMinLife: tokens living less than this are not kept in the
	// store. A Secret Service write costs tens of milliseconds (gnome-keyring
	// rewrites its whole file), so keeping every 10-20 s token of hundreds
	// of profiles saturates it (bench/: 500 profiles need ~56 writes/s, it
	// manages ~20). Such a token is cheap to replace: after a restart the
	// daemon mints anew, and its clean-up pass revokes the one it lost.
	persistMinLife = 5 * time.Minute
)

// LoginOptions are login's choices beyond host and token.
type LoginOptions struct {
	Static   bool          // serve the root itself
	Lifetime time.Duration // of minted tokens; 0: DefaultLifetime
	// InsecureHTTP allows an http:// host that is not loopback.
	InsecureHTTP bool
	// ClientID makes the login a service principal's (OAuth M2M): the
	// secret is its client secret, and Static and Lifetime do not apply.
	ClientID string
	// AccountID, with ClientID, makes the login account level: host is an
	// accounts host and this the account's id.
	AccountID string
	// Adopt: the caller replaces the pasted token with a root dbx-cred
	// creates right after the login (Manager.Adopt). Login only refuses
	// it where it means nothing, before anything is stored.
	Adopt bool
	// NoAutoRotate turns off the automatic replacement of roots dbx-cred
	// creates for this profile (registry.Profile.NoAutoRotate).
	NoAutoRotate bool
	// Federated makes the login workload identity federation: the ID
	// token source (github, azure-devops, file:PATH, env:NAME); there is
	// no secret. ClientID and AccountID then name the service principal's
	// policy and the account, Audience the JWT's audience.
	Federated string
	Audience  string
}

func (o LoginOptions) lifetime() (time.Duration, error) {
	switch {
	case o.Lifetime == 0:
		return DefaultLifetime, nil
	case o.Lifetime < MinLifetime:
		return 0, badInput("--token-lifetime %s is too short: it must be at least %s, e.g. --token-lifetime 30m", o.Lifetime, MinLifetime)
	case o.Lifetime%time.Second != 0:
		return 0, badInput("token lifetime %s is not a whole number of seconds", o.Lifetime)
	}
	return o.Lifetime, nil
}

// Rotation is what rotating profiles need from the outside world.
type Rotation struct {
	// Tokens returns a Token API client for host authenticated by token.
	Tokens func(host, token string) *workspace.TokenAPI
	// Derived keeps the current minted token of each profile and scope set,
	// so a restarted daemon reuses it (a store under its own service name).
	Derived store.Store
	Clock   tokensource.Clock
	// MaxConcurrentMints bounds token/create calls across all profiles.
	MaxConcurrentMints int
	// CrashAt is a test hook passed to every token source
	// (tokensource.Config.CrashAt); nil in production.
	CrashAt func(point string)
	// Getenv is the daemon's environment, where a federated profile's ID
	// token source finds its CI system's variables; default os.Getenv.
	Getenv  func(string) string
	limiter chan struct{}
}

func (r Rotation) withDefaults() Rotation {
	if r.Clock == nil {
		r.Clock = tokensource.RealClock{}
	}
	if r.Getenv == nil {
		r.Getenv = os.Getenv
	}
	if r.MaxConcurrentMints <= 0 {
		r.MaxConcurrentMints = 8
	}
	r.limiter = make(chan struct{}, r.MaxConcurrentMints)
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func scopeKey(scopes []string) string {
	s := slices.Clone(scopes)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// newSecretKey names a new generation of a profile's secret in the store.
// Profile names hold no control characters, so \x1f cannot be ambiguous.
func newSecretKey(profile string) string { return profile + "\x1f" + randomHex(4) }
