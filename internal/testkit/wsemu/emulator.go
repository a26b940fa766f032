// Package wsemu is an in-process stand-in for a Databricks workspace, faithful
// enough on the authentication surface (host metadata, SCIM Me, Token API,
// OAuth U2M and M2M, and their error shapes) that dbx-cred and the real
// databricks-sdk-go can be tested against it without network access. It is a test double, not a
// workspace: nothing it issues is a real credential.
package wsemu

import (
	"net/http"
	"sync"
	"time"
)

const (
	defaultQuota            = 600
	defaultMaxLifetime      = 730 * 24 * time.Hour
	defaultUnusedRevocation = 90 * 24 * time.Hour
)

// Emulator is a fake Databricks workspace. It is an http.Handler and safe for
// concurrent use; the zero value is not usable, call New.
type Emulator struct {
	// Settings, fixed after New.
	now              func() time.Time
	quota            int
	maxLifetime      time.Duration
	unusedRevocation time.Duration
	scopesSupported  bool
	creationDisabled bool
	workspaceID      string
	accountID        string

	oauthAccessLifetime time.Duration
	oauthRefreshLatency time.Duration
	oauthRevocation     bool

	mu       sync.Mutex
	users    map[string]*user
	byValue  map[string]*token
	byID     map[string]*token
	issued   uint64
	faults   []*pendingFault
	requests map[endpoint]int
	inFlight map[endpoint]*gauge

	// OAuth state; see oauth.go.
	browserUser       *user
	servicePrincipals map[string]*servicePrincipal
	federations       []*federation
	// federationAudiences, when set, is what host metadata publishes.
	federationAudiences []string
	serving             serving
	authCodes           map[string]*authCode
	refreshTokens       map[string]*refreshToken
	accessTokens        map[string]*accessToken
	oauthStats          OAuthStats
}

// Option configures an Emulator in New.
type Option func(*Emulator)

// WithClock replaces time.Now so tests can move time forward without sleeping.
// Injected latency (Fault.Latency) still uses the real clock.
func WithClock(now func() time.Time) Option {
	return func(e *Emulator) { e.now = now }
}

// WithQuota sets how many live tokens one user may hold (default 600, as on a
// real workspace). n <= 0 removes the limit.
func WithQuota(n int) Option {
	return func(e *Emulator) { e.quota = n }
}

// WithMaxLifetime sets the workspace's maximum token lifetime (default 730
// days). token/create without lifetime_seconds gets exactly this lifetime and
// a longer request is rejected. d <= 0 means no maximum: tokens created
// without lifetime_seconds then never expire.
func WithMaxLifetime(d time.Duration) Option {
	return func(e *Emulator) { e.maxLifetime = d }
}

// WithUnusedRevocation sets after how long without use a token is revoked
// (default 90 days, as Databricks does). d <= 0 disables it. Tests that jump
// the clock far ahead without using a stored PAT will see it revoked, exactly
// as a daemon would in production.
func WithUnusedRevocation(d time.Duration) Option {
	return func(e *Emulator) { e.unusedRevocation = d }
}

// WithoutScopes emulates an older workspace that rejects `scopes` in
// token/create.
func WithoutScopes() Option {
	return func(e *Emulator) { e.scopesSupported = false }
}

// WithTokenCreationDisabled emulates an admin who has turned off PAT creation
// for users: token/create answers 403 PERMISSION_DENIED.
func WithTokenCreationDisabled() Option {
	return func(e *Emulator) { e.creationDisabled = true }
}

// WithWorkspaceID fixes the workspace id reported by host metadata and the
// X-Databricks-Org-Id header (default: random digits).
func WithWorkspaceID(id string) Option {
	return func(e *Emulator) { e.workspaceID = id }
}

// New returns an emulator with no users; add them with AddUser.
func New(opts ...Option) *Emulator {
	e := &Emulator{
		now:              time.Now,
		quota:            defaultQuota,
		maxLifetime:      defaultMaxLifetime,
		unusedRevocation: defaultUnusedRevocation,
		scopesSupported:  true,
		users:            make(map[string]*user),
		byValue:          make(map[string]*token),
		byID:             make(map[string]*token),
		requests:         make(map[endpoint]int),
		inFlight:         make(map[endpoint]*gauge),

		oauthAccessLifetime: defaultOAuthAccessLifetime,
		servicePrincipals:   make(map[string]*servicePrincipal),
		authCodes:           make(map[string]*authCode),
		refreshTokens:       make(map[string]*refreshToken),
		accessTokens:        make(map[string]*accessToken),
	}
	for _, opt := range opts {
		opt(e)
	}
	if e.workspaceID == "" {
		e.workspaceID = randomDigits(16)
	}
	if e.accountID == "" {
		e.accountID = randomUUID()
	}
	return e
}

// WorkspaceID is the id this workspace reports.
func (e *Emulator) WorkspaceID() string { return e.workspaceID }

var _ http.Handler = (*Emulator)(nil)
