package wsemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OAuth as a Databricks workspace (and its account console) serves it:
//
//   - discovery at /oidc/.well-known/oauth-authorization-server (workspace
//     level only; account level has fixed endpoints and no discovery);
//   - /oidc/v1/authorize and /oidc/v1/token, and the same two under
//     /oidc/accounts/<account id>/v1/ for account-level logins;
//   - authorization code with PKCE S256 for the public client
//     "databricks-cli", approved at once as if the signed-in user clicked
//     "allow", redirecting only to http://localhost or http://127.0.0.1;
//   - rotating refresh tokens: each refresh returns a new one and retires the
//     presented one; presenting a retired one again is taken as theft and
//     revokes the whole family, its access tokens included;
//   - client_credentials with HTTP Basic auth for service principals;
//   - with WithOAuthRevocation, RFC 7009 revocation at /oidc/v1/revoke,
//     named in discovery. Without it neither exists, as discovery of real
//     workspaces names no revocation_endpoint.
const (
	pathOIDCPrefix    = "/oidc"
	pathOIDCDiscovery = "/oidc/.well-known/oauth-authorization-server"
	pathOIDCAuthorize = "/oidc/v1/authorize"
	pathOIDCToken     = "/oidc/v1/token"
	pathOIDCRevoke    = "/oidc/v1/revoke"
	pathAccountsOIDC  = "/oidc/accounts/"

	// OAuthCLIClientID is the public client id the Databricks CLI and SDKs
	// use for U2M logins; it has no secret.
	OAuthCLIClientID = "databricks-cli"

	defaultOAuthAccessLifetime = time.Hour
	authorizationCodeLifetime  = 5 * time.Minute

	// The token endpoint's invalid_grant description for any unusable
	// refresh token; the SDK matches this exact text to ask for a new login.
	msgRefreshTokenInvalid = "Refresh token is invalid"
)

// PathOIDCToken and friends are exported for tests of other packages that
// assert on Requests or InFlight of the OAuth endpoints.
const (
	PathOIDCDiscovery = pathOIDCDiscovery
	PathOIDCAuthorize = pathOIDCAuthorize
	PathOIDCToken     = pathOIDCToken
	PathOIDCRevoke    = pathOIDCRevoke
)

// AccountOIDCPath is the account-level authorize or token path ("authorize"
// or "token") for accountID.
func AccountOIDCPath(accountID, endpoint string) string {
	return pathAccountsOIDC + accountID + "/v1/" + endpoint
}

// WithOAuthAccessLifetime sets how long OAuth access tokens (U2M and M2M)
// live, on the emulator's clock (default one hour, as on Databricks). Tests
// of renewal use short ones, e.g. 20 seconds. expires_in is rounded up to
// whole seconds; d <= 0 keeps the default.
func WithOAuthAccessLifetime(d time.Duration) Option {
	return func(e *Emulator) {
		if d > 0 {
			e.oauthAccessLifetime = d
		}
	}
}

// expiresIn is the access-token lifetime as the token endpoint states it.
func (e *Emulator) expiresIn() int64 {
	return int64((e.oauthAccessLifetime + time.Second - 1) / time.Second)
}

// WithOAuthRefreshLatency makes every refresh_token grant take at least d of
// real time after it has been counted in flight for its token family, so
// overlapping refreshes by careless clients become observable in
// OAuthStats.RefreshOverlaps. A refresh whose client hangs up during the
// delay is still carried out, as a real server would: the token rotates and
// the client never learns the new one.
func WithOAuthRefreshLatency(d time.Duration) Option {
	return func(e *Emulator) { e.oauthRefreshLatency = d }
}

// WithOAuthRevocation makes the workspace serve RFC 7009 token revocation
// at /oidc/v1/revoke and name it as revocation_endpoint in discovery, for
// tests of clients that revoke a login when it ends.
func WithOAuthRevocation() Option {
	return func(e *Emulator) { e.oauthRevocation = true }
}

// WithAccountID fixes the account id this emulator's account-level OAuth
// endpoints answer for (default: a random UUID).
func WithAccountID(id string) Option {
	return func(e *Emulator) { e.accountID = id }
}

// AccountID is the id the account-level endpoints answer for.
func (e *Emulator) AccountID() string { return e.accountID }

// OAuthStats counts what the OAuth endpoints saw since New.
type OAuthStats struct {
	CodeExchanges     int // successful authorization_code grants
	CodeReuses        int // authorization codes presented a second time
	Refreshes         int // successful refresh_token grants
	ClientCredentials int // successful client_credentials grants
	Exchanges         int // successful token exchanges (federation)
	// RefreshOverlaps counts refresh_token requests that arrived while
	// another refresh of the same family was still being answered: each is
	// a client failing to serialise its refreshes.
	RefreshOverlaps int
	// PeakRefreshesInFlight is the most refresh_token requests of a single
	// family that were answered at once.
	PeakRefreshesInFlight int
	// Reuses counts refresh tokens presented after they had been rotated
	// away (each one revokes its family).
	Reuses          int
	FamiliesRevoked int
	// Revocations counts revocation requests of a known token by its
	// client (with WithOAuthRevocation).
	Revocations    int
	InvalidGrants  int // every 400 invalid_grant answer
	InvalidClients int // every 401 invalid_client answer
}

// OAuthStats returns the counters.
func (e *Emulator) OAuthStats() OAuthStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.oauthStats
}

// servicePrincipal is an OAuth confidential client acting as itself.
type servicePrincipal struct {
	secret string
	user   *user // the identity SCIM Me reports; userName is the application id
}

// authCode is an issued, not yet exchanged authorization code.
type authCode struct {
	clientID, redirectURI, challenge, accountID string
	scopes                                      []string
	user                                        *user
	expires                                     time.Time
	used                                        bool
	family                                      *tokenFamily // what its exchange issued, revoked on reuse
}

// tokenFamily is one login: every refresh token rotated from the first, and
// the access tokens issued alongside.
type tokenFamily struct {
	user      *user
	clientID  string
	accountID string
	scopes    []string
	current   string // the only refresh token that works
	revoked   bool
	inFlight  int
}

type refreshToken struct {
	family *tokenFamily
}

// accessToken is an OAuth access token; family is nil for client_credentials.
type accessToken struct {
	user      *user
	family    *tokenFamily
	accountID string
	expires   time.Time
}

// AddOAuthUser creates userName (if new) and makes it the user signed in to
// the emulator's "browser": authorize requests approve at once on its behalf.
// The last user added wins.
func (e *Emulator) AddOAuthUser(userName string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.browserUser = e.userLocked(userName)
}

// AddServicePrincipal registers an OAuth client for client_credentials with
// Basic auth appID:secret. SCIM Me answers for its tokens with appID as
// userName. Registering appID again replaces its secret.
func (e *Emulator) AddServicePrincipal(appID, secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sp := e.servicePrincipals[appID]
	if sp == nil {
		// The principal is also a workspace identity, so a PAT it mints
		// through the Token API authenticates as it.
		u := e.userLocked(appID)
		u.servicePrincipal = true
		sp = &servicePrincipal{user: u}
		e.servicePrincipals[appID] = sp
	}
	sp.secret = secret
}

// RevokeOAuthFamily revokes the login that token (a refresh or access token
// it issued) belongs to, as an admin or a logout would. It reports whether a
// live family was found.
func (e *Emulator) RevokeOAuthFamily(token string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	var f *tokenFamily
	if rt, ok := e.refreshTokens[token]; ok {
		f = rt.family
	} else if at, ok := e.accessTokens[token]; ok {
		f = at.family
	}
	if f == nil || f.revoked {
		return false
	}
	e.revokeFamilyLocked(f)
	return true
}

// RefreshTokenLive reports whether value is the current refresh token of an
// unrevoked family, without using it.
func (e *Emulator) RefreshTokenLive(value string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	rt, ok := e.refreshTokens[value]
	return ok && !rt.family.revoked && rt.family.current == value
}

func (e *Emulator) revokeFamilyLocked(f *tokenFamily) {
	if !f.revoked {
		f.revoked = true
		e.oauthStats.FamiliesRevoked++
	}
}

// authenticateOAuthLocked resolves a live OAuth access token issued for
// accountID ("" = this workspace).
func (e *Emulator) authenticateOAuthLocked(value, accountID string, now time.Time) (*user, bool) {
	at, ok := e.accessTokens[value]
	if !ok {
		return nil, false
	}
	if !now.Before(at.expires) || (at.family != nil && at.family.revoked) {
		delete(e.accessTokens, value)
		return nil, false
	}
	if at.accountID != accountID {
		return nil, false
	}
	return at.user, true
}

// serveOIDC answers everything under /oidc/.
func (e *Emulator) serveOIDC(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	accountID := ""
	endpoint := ""
	switch {
	case path == pathOIDCDiscovery:
		if r.Method != http.MethodGet {
			writeMethodNotAllowed(w, r, http.MethodGet)
			return
		}
		e.handleDiscovery(w, r)
		return
	case path == pathOIDCAuthorize:
		endpoint = "authorize"
	case path == pathOIDCToken:
		endpoint = "token"
	case path == pathOIDCRevoke && e.oauthRevocation:
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r, http.MethodPost)
			return
		}
		e.handleRevoke(w, r)
		return
	case strings.HasPrefix(path, pathAccountsOIDC):
		// /oidc/accounts/<id>/v1/{authorize,token}; nothing else, in
		// particular no discovery document, exists at account level.
		id, rest, _ := strings.Cut(strings.TrimPrefix(path, pathAccountsOIDC), "/")
		if id == "" || id != e.accountID || (rest != "v1/authorize" && rest != "v1/token") {
			writeNotFound(w, r)
			return
		}
		accountID = id
		endpoint = strings.TrimPrefix(rest, "v1/")
	default:
		writeNotFound(w, r)
		return
	}
	switch endpoint {
	case "authorize":
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r, http.MethodGet, http.MethodPost)
			return
		}
		e.handleAuthorize(w, r, accountID)
	case "token":
		if r.Method != http.MethodPost {
			writeMethodNotAllowed(w, r, http.MethodPost)
			return
		}
		e.handleOAuthToken(w, r, accountID)
	}
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
}

func (e *Emulator) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	revocation := ""
	if e.oauthRevocation {
		revocation = base + pathOIDCRevoke
	}
	writeJSON(w, http.StatusOK, discoveryDocument{
		RevocationEndpoint:                revocation,
		Issuer:                            base + pathOIDCPrefix,
		AuthorizationEndpoint:             base + pathOIDCAuthorize,
		TokenEndpoint:                     base + pathOIDCToken,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token", "client_credentials"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "none"},
		ScopesSupported:                   supportedScopes(),
	})
}

// supportedScopes are the scopes the emulator grants. offline_access asks
// for a refresh token; the rest name API families as Databricks does.
func supportedScopes() []string {
	return []string{"all-apis", "offline_access", "sql", "openid", "email", "profile"}
}

func scopeSupported(s string) bool {
	for _, k := range supportedScopes() {
		if s == k {
			return true
		}
	}
	return false
}

// oauthError is the RFC 6749 error body of the OAuth endpoints; it differs
// from the REST API's error_code/message envelope.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Error: code, ErrorDescription: description})
}

// validRedirectURI accepts the loopback callbacks CLI logins use:
// http://localhost:PORT/... or http://127.0.0.1:PORT/....
func validRedirectURI(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return false
	}
	return u.Port() != ""
}

func (e *Emulator) handleAuthorize(w http.ResponseWriter, r *http.Request, accountID string) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request")
		return
	}
	q := r.Form
	// Until client and redirect_uri are known good, errors are shown to the
	// user rather than redirected (RFC 6749 §4.1.2.1): redirecting to an
	// unvetted address would make the server an open redirector.
	if q.Get("client_id") != OAuthCLIClientID {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid client_id")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !validRedirectURI(redirectURI) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid redirect_uri")
		return
	}
	state := q.Get("state")
	fail := func(code, description string) {
		redirectWith(w, r, redirectURI, url.Values{
			"error": {code}, "error_description": {description}, "state": {state},
		})
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "response_type must be code")
		return
	}
	challenge := q.Get("code_challenge")
	if q.Get("code_challenge_method") != "S256" || !validChallenge(challenge) {
		fail("invalid_request", "PKCE with code_challenge_method S256 is required")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		fail("invalid_scope", "scope is required")
		return
	}
	for _, s := range scopes {
		if !scopeSupported(s) {
			fail("invalid_scope", "Unsupported scope: "+s)
			return
		}
	}

	e.mu.Lock()
	u := e.browserUser
	code := ""
	if u != nil {
		code = "dcode" + randomHex(24)
		e.authCodes[code] = &authCode{
			clientID: OAuthCLIClientID, redirectURI: redirectURI, challenge: challenge,
			accountID: accountID, scopes: scopes, user: u,
			expires: e.now().Add(authorizationCodeLifetime),
		}
	}
	e.mu.Unlock()
	if u == nil {
		fail("access_denied", "No user is signed in")
		return
	}
	redirectWith(w, r, redirectURI, url.Values{"code": {code}, "state": {state}})
}

// validChallenge checks the shape of an S256 challenge: unpadded base64url
// of 32 bytes.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

func redirectWith(w http.ResponseWriter, r *http.Request, target string, params url.Values) {
	u, _ := url.Parse(target) // validated by validRedirectURI
	q := u.Query()
	for k, vs := range params {
		if k == "state" && vs[0] == "" {
			continue
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

type oauthTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// clientAuth is how the caller identified itself at the token endpoint.
type clientAuth struct {
	id, secret string
	basic      bool
}

func tokenClientAuth(r *http.Request) clientAuth {
	if id, secret, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: both halves are form-urlencoded before Basic.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		return clientAuth{id: id, secret: secret, basic: true}
	}
	return clientAuth{id: r.PostForm.Get("client_id"), secret: r.PostForm.Get("client_secret")}
}

func (e *Emulator) handleOAuthToken(w http.ResponseWriter, r *http.Request, accountID string) {
	// Token responses carry secrets: RFC 6749 §5.1 forbids caching them.
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request")
		return
	}
	ca := tokenClientAuth(r)
	switch grant := r.PostForm.Get("grant_type"); grant {
	case "authorization_code":
		e.grantAuthorizationCode(w, r, ca, accountID)
	case "refresh_token":
		e.grantRefreshToken(w, r, ca, accountID)
	case "client_credentials":
		e.grantClientCredentials(w, r, ca, accountID)
	case grantTokenExchange:
		e.grantExchange(w, r, accountID)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type: "+grant)
	}
}

// handleRevoke is RFC 7009 revocation for the CLI's public client. It
// answers 200 for any token, known or not (§2.2: the client cannot act on
// the difference, and a probe learns nothing). A refresh token takes its
// whole family with it, access tokens included; an access token goes
// alone.
func (e *Emulator) handleRevoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request")
		return
	}
	ca := tokenClientAuth(r)
	value := r.PostForm.Get("token")
	e.mu.Lock()
	defer e.mu.Unlock()
	if !publicClientOK(ca) {
		e.invalidClientLocked(w)
		return
	}
	if value == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	// The hint is only an optimisation (§2.1): both kinds are looked up.
	if rt, ok := e.refreshTokens[value]; ok && rt.family.clientID == ca.id {
		e.oauthStats.Revocations++
		e.revokeFamilyLocked(rt.family)
	} else if at, ok := e.accessTokens[value]; ok && at.family != nil && at.family.clientID == ca.id {
		e.oauthStats.Revocations++
		delete(e.accessTokens, value)
	}
	w.WriteHeader(http.StatusOK)
}

func (e *Emulator) invalidClientLocked(w http.ResponseWriter) {
	e.oauthStats.InvalidClients++
	w.Header().Set("WWW-Authenticate", `Basic realm="oidc"`)
	writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
}

func (e *Emulator) invalidGrantLocked(w http.ResponseWriter, description string) {
	e.oauthStats.InvalidGrants++
	writeOAuthError(w, http.StatusBadRequest, "invalid_grant", description)
}

// publicClientOK reports whether ca is the CLI's public client, which
// authenticates with its id alone.
func publicClientOK(ca clientAuth) bool {
	return ca.id == OAuthCLIClientID && ca.secret == ""
}

func (e *Emulator) grantAuthorizationCode(w http.ResponseWriter, r *http.Request, ca clientAuth, accountID string) {
	form := r.PostForm
	e.mu.Lock()
	defer e.mu.Unlock()
	if !publicClientOK(ca) {
		e.invalidClientLocked(w)
		return
	}
	now := e.now()
	c, ok := e.authCodes[form.Get("code")]
	switch {
	case !ok || c.accountID != accountID || c.clientID != ca.id:
		e.invalidGrantLocked(w, "Authorization code is invalid")
		return
	case c.used:
		// A code seen twice was intercepted or replayed: revoke what its
		// first exchange issued, as RFC 6749 §4.1.2 recommends.
		e.oauthStats.CodeReuses++
		if c.family != nil {
			e.revokeFamilyLocked(c.family)
		}
		e.invalidGrantLocked(w, "Authorization code is invalid")
		return
	case !now.Before(c.expires):
		delete(e.authCodes, form.Get("code"))
		e.invalidGrantLocked(w, "Authorization code has expired")
		return
	case form.Get("redirect_uri") != c.redirectURI:
		e.invalidGrantLocked(w, "redirect_uri does not match the authorization request")
		return
	}
	verifier := form.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if verifier == "" || subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		// Failed verification burns the code too, so it cannot be guessed at.
		c.used = true
		e.invalidGrantLocked(w, "PKCE verification failed")
		return
	}
	c.used = true
	f := &tokenFamily{user: c.user, clientID: c.clientID, accountID: c.accountID, scopes: c.scopes}
	c.family = f
	e.oauthStats.CodeExchanges++
	writeJSON(w, http.StatusOK, e.issueOAuthLocked(f, now))
}

func (e *Emulator) grantRefreshToken(w http.ResponseWriter, r *http.Request, ca clientAuth, accountID string) {
	value := r.PostForm.Get("refresh_token")
	e.mu.Lock()
	rt, known := e.refreshTokens[value]
	var f *tokenFamily
	if known {
		f = rt.family
		if f.inFlight > 0 {
			e.oauthStats.RefreshOverlaps++
		}
		f.inFlight++
		e.oauthStats.PeakRefreshesInFlight = max(e.oauthStats.PeakRefreshesInFlight, f.inFlight)
	}
	e.mu.Unlock()

	sleep(r.Context(), e.oauthRefreshLatency) // finishes early, not never, if the client hangs up

	e.mu.Lock()
	defer e.mu.Unlock()
	if f != nil {
		f.inFlight--
	}
	if !publicClientOK(ca) {
		e.invalidClientLocked(w)
		return
	}
	switch {
	case !known || f.clientID != ca.id || f.accountID != accountID || f.revoked:
		e.invalidGrantLocked(w, msgRefreshTokenInvalid)
		return
	case f.current != value:
		e.oauthStats.Reuses++
		e.revokeFamilyLocked(f)
		e.invalidGrantLocked(w, msgRefreshTokenInvalid)
		return
	}
	e.oauthStats.Refreshes++
	writeJSON(w, http.StatusOK, e.issueOAuthLocked(f, e.now()))
}

func (e *Emulator) grantClientCredentials(w http.ResponseWriter, r *http.Request, ca clientAuth, accountID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sp := e.servicePrincipals[ca.id]
	if !ca.basic || sp == nil ||
		subtle.ConstantTimeCompare([]byte(ca.secret), []byte(sp.secret)) != 1 {
		e.invalidClientLocked(w)
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		scopes = []string{"all-apis"}
	}
	for _, s := range scopes {
		if s == "offline_access" || !scopeSupported(s) {
			writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "Unsupported scope: "+s)
			return
		}
	}
	now := e.now()
	value := e.newAccessTokenLocked(sp.user, nil, accountID, now)
	e.oauthStats.ClientCredentials++
	writeJSON(w, http.StatusOK, oauthTokenResponse{
		AccessToken: value, TokenType: "Bearer",
		ExpiresIn: e.expiresIn(), Scope: strings.Join(scopes, " "),
	})
}

// issueOAuthLocked hands out a new access token for f and, when the login
// asked for offline_access, rotates its refresh token.
func (e *Emulator) issueOAuthLocked(f *tokenFamily, now time.Time) oauthTokenResponse {
	resp := oauthTokenResponse{
		AccessToken: e.newAccessTokenLocked(f.user, f, f.accountID, now),
		TokenType:   "Bearer",
		ExpiresIn:   e.expiresIn(),
		Scope:       strings.Join(f.scopes, " "),
	}
	for _, s := range f.scopes {
		if s == "offline_access" {
			resp.RefreshToken = "doau" + randomHex(32)
			e.refreshTokens[resp.RefreshToken] = &refreshToken{family: f}
			f.current = resp.RefreshToken
		}
	}
	return resp
}

func (e *Emulator) newAccessTokenLocked(u *user, f *tokenFamily, accountID string, now time.Time) string {
	value := "dapo" + randomHex(32)
	e.accessTokens[value] = &accessToken{user: u, family: f, accountID: accountID, expires: now.Add(e.oauthAccessLifetime)}
	return value
}

const pathAccountsAPI = "/api/2.0/accounts/"

// AccountMePath is the account-level SCIM Me path for accountID.
func AccountMePath(accountID string) string {
	return pathAccountsAPI + accountID + "/scim/v2/Me"
}

// serveAccountAPI answers the account console's REST API, of which the
// emulator has only SCIM Me. Only OAuth tokens issued by this account's
// endpoints work there: PATs and workspace-level OAuth tokens are workspace
// credentials.
func (e *Emulator) serveAccountAPI(w http.ResponseWriter, r *http.Request) {
	value, ok := credential(r)
	if !ok {
		w.Header().Set("X-Databricks-Reason-Phrase", msgNoCredential)
		writeError(w, http.StatusUnauthorized, http.StatusUnauthorized, msgNoCredential)
		return
	}
	e.mu.Lock()
	u, ok := e.authenticateOAuthLocked(value, e.accountID, e.now())
	e.mu.Unlock()
	if !ok {
		w.Header().Set("X-Databricks-Reason-Phrase", msgInvalidToken)
		writeError(w, http.StatusForbidden, http.StatusForbidden, msgInvalidToken)
		return
	}
	if r.URL.Path != AccountMePath(e.accountID) {
		writeNotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeMethodNotAllowed(w, r, http.MethodGet)
		return
	}
	e.handleMe(w, r, u)
}
