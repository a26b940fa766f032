package wsemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Token exchange (RFC 8693), as Databricks' OAuth token federation does it:
// a JWT from another identity provider, matched against a federation
// policy (issuer, audiences, subject) and verified against the provider's
// JWKS, for a Databricks access token that lives no longer than the JWT.
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeJWT       = "urn:ietf:params:oauth:token-type:jwt"
)

// FederationPolicy is what a JWT must match. ClientID is the service
// principal's application id for a service-principal policy, "" for an
// account-wide one (the request then carries no client_id).
type FederationPolicy struct {
	Issuer    string
	Audiences []string
	Subject   string
	JWKSURL   string
	ClientID  string
	// UserName is who the issued token acts as (SCIM Me's userName).
	UserName string
}

type federation struct {
	policy FederationPolicy
	user   *user
}

// WithFederationAudiences makes /.well-known/databricks-config publish
// these token_federation_default_oidc_audiences instead of the token
// endpoint's URL.
func WithFederationAudiences(auds ...string) Option {
	return func(e *Emulator) { e.federationAudiences = auds }
}

// AddFederationPolicy accepts JWTs that match p.
func (e *Emulator) AddFederationPolicy(p FederationPolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := &user{id: randomDigits(16), name: p.UserName, servicePrincipal: p.ClientID != ""}
	if ex := e.users[p.UserName]; ex != nil {
		u = ex
	}
	e.federations = append(e.federations, &federation{policy: p, user: u})
}

// Exchanges counts successful token exchanges.
func (e *Emulator) Exchanges() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.oauthStats.Exchanges
}

// grantExchange answers a token-exchange request. The JWKS is fetched
// without the emulator's lock held.
func (e *Emulator) grantExchange(w http.ResponseWriter, r *http.Request, accountID string) {
	form := r.PostForm
	if form.Get("subject_token_type") != tokenTypeJWT {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be "+tokenTypeJWT)
		return
	}
	raw := form.Get("subject_token")
	hdr, claims, signed, sig, err := splitJWT(raw)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "subject_token is not a JWT: "+err.Error())
		return
	}
	clientID := form.Get("client_id")
	e.mu.Lock()
	var f *federation
	for _, c := range e.federations {
		if c.policy.Issuer == claims.Issuer && c.policy.ClientID == clientID {
			f = c
		}
	}
	e.mu.Unlock()
	if f == nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token exchange failed: no federation policy matches the token's issuer"+forClient(clientID))
		return
	}
	if err := verifyJWT(r, f.policy.JWKSURL, hdr, signed, sig); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token exchange failed: signature verification failed: "+err.Error())
		return
	}
	now := e.now()
	switch {
	case !claims.audIn(f.policy.Audiences):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token exchange failed: the token's audience does not match the federation policy")
		return
	case f.policy.Subject != "" && claims.Subject != f.policy.Subject:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token exchange failed: the token's subject does not match the federation policy")
		return
	case claims.Expiry == 0 || !now.Before(time.Unix(claims.Expiry, 0)):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token exchange failed: the token has expired")
		return
	}
	if s := form.Get("scope"); s != "" && s != "all-apis" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_scope", "Unsupported scope: "+s)
		return
	}
	life := min(e.oauthAccessLifetime, time.Unix(claims.Expiry, 0).Sub(now))
	e.mu.Lock()
	value := "dapo" + randomHex(32)
	e.accessTokens[value] = &accessToken{user: f.user, accountID: accountID, expires: now.Add(life)}
	e.oauthStats.Exchanges++
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, oauthTokenResponse{AccessToken: value, TokenType: "Bearer",
		ExpiresIn: int64(life / time.Second), Scope: "all-apis"})
}

func forClient(id string) string {
	if id == "" {
		return " (account-wide policy)"
	}
	return " for client id " + id
}

type jwtClaims struct {
	Issuer  string          `json:"iss"`
	Subject string          `json:"sub"`
	Aud     json.RawMessage `json:"aud"`
	Expiry  int64           `json:"exp"`
}

func (c jwtClaims) audIn(want []string) bool {
	var one string
	var many []string
	if json.Unmarshal(c.Aud, &one) == nil {
		many = []string{one}
	} else if json.Unmarshal(c.Aud, &many) != nil {
		return false
	}
	for _, a := range many {
		if slices.Contains(want, a) {
			return true
		}
	}
	return false
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

func splitJWT(raw string) (hdr jwtHeader, claims jwtClaims, signed string, sig []byte, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return hdr, claims, "", nil, fmt.Errorf("%d parts, want 3", len(parts))
	}
	for i, dst := range []any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return hdr, claims, "", nil, err
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return hdr, claims, "", nil, err
		}
	}
	if sig, err = base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return hdr, claims, "", nil, err
	}
	return hdr, claims, parts[0] + "." + parts[1], sig, nil
}

type jwk struct {
	Kty, Kid, Crv, N, E, X, Y string
}

// verifyJWT checks sig over signed with the key named in hdr, from the
// JWKS at url: RS256 and ES256 only, as Databricks accepts.
func verifyJWT(r *http.Request, url string, hdr jwtHeader, signed string, sig []byte) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("fetch the JWKS: %w", err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("read the JWKS: %w", err)
	}
	sum := sha256.Sum256([]byte(signed))
	dec := base64.RawURLEncoding.DecodeString
	for _, k := range set.Keys {
		if k.Kid != hdr.Kid {
			continue
		}
		switch {
		case hdr.Alg == "RS256" && k.Kty == "RSA":
			n, err1 := dec(k.N)
			e, err2 := dec(k.E)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("bad RSA key %s", k.Kid)
			}
			pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
		case hdr.Alg == "ES256" && k.Kty == "EC" && k.Crv == "P-256" && len(sig) == 64:
			x, err1 := dec(k.X)
			y, err2 := dec(k.Y)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("bad EC key %s", k.Kid)
			}
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
				return fmt.Errorf("bad ES256 signature")
			}
			return nil
		}
	}
	return fmt.Errorf("no %s key %q in the JWKS", hdr.Alg, hdr.Kid)
}
