// Package oidcidp is a test identity provider for workload identity
// federation: it signs JWTs with an RSA key (RS256) and an EC key
// (ES256), publishes both as a JWKS, and serves a GitHub-Actions-like ID
// token endpoint (bearer-checked, audience query parameter). Test-only.
package oidcidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// IdP is the identity provider. Issuer is its URL (the JWTs' iss).
type IdP struct {
	Issuer string
	// RequestToken is the bearer the ID token endpoint wants, as GitHub's
	// ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	RequestToken string
	srv          *httptest.Server
	rsaKey       *rsa.PrivateKey
	ecKey        *ecdsa.PrivateKey

	mu      sync.Mutex
	subject string
	life    time.Duration
	alg     string
	issued  int
	tokens  []string // every JWT signed, for secret scans
}

// New starts an IdP; Close stops it. Tokens say sub "repo:acme/app:ref:refs/heads/main"
// and live 5 minutes unless changed.
func New() *IdP {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	p := &IdP{rsaKey: rk, ecKey: ek, RequestToken: "ghrt-" + randomHex(16),
		subject: "repo:acme/app:ref:refs/heads/main", life: 5 * time.Minute, alg: "RS256"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/jwks.json", p.jwks)
	mux.HandleFunc("/id-token", p.idToken)
	mux.HandleFunc("/ado/oidctoken", p.adoToken)
	p.srv = httptest.NewServer(mux)
	p.Issuer = p.srv.URL
	return p
}

// Close stops the IdP's server.
func (p *IdP) Close() { p.srv.Close() }

// JWKSURL is where the keys are published.
func (p *IdP) JWKSURL() string { return p.Issuer + "/.well-known/jwks.json" }

// RequestURL is GitHub's ACTIONS_ID_TOKEN_REQUEST_URL for this IdP (it
// already has a query, as GitHub's does: the client appends &audience=).
func (p *IdP) RequestURL() string { return p.Issuer + "/id-token?api-version=2.0" }

// SetSubject, SetLifetime and SetAlg change the tokens issued from now on.
func (p *IdP) SetSubject(s string)         { p.mu.Lock(); p.subject = s; p.mu.Unlock() }
func (p *IdP) SetLifetime(d time.Duration) { p.mu.Lock(); p.life = d; p.mu.Unlock() }
func (p *IdP) SetAlg(alg string)           { p.mu.Lock(); p.alg = alg; p.mu.Unlock() }

// Issued counts the ID tokens the endpoint handed out.
func (p *IdP) Issued() int { p.mu.Lock(); defer p.mu.Unlock(); return p.issued }

// Token signs a JWT for audience, valid for the IdP's lifetime from now
// (negative: already expired).
func (p *IdP) Token(audience string) string {
	p.mu.Lock()
	sub, life, alg := p.subject, p.life, p.alg
	p.mu.Unlock()
	now := time.Now()
	claims := map[string]any{"iss": p.Issuer, "sub": sub, "aud": audience,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(life).Unix()}
	t := p.sign(alg, claims)
	p.mu.Lock()
	p.tokens = append(p.tokens, t)
	p.mu.Unlock()
	return t
}

// Tokens lists every JWT the IdP signed.
func (p *IdP) Tokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tokens...)
}

// ADOAudience is the audience Azure DevOps puts in its OIDC tokens.
const ADOAudience = "api://AzureADTokenExchange"

// ADORequestURL is an Azure DevOps job's SYSTEM_OIDCREQUESTURI for this IdP.
func (p *IdP) ADORequestURL() string { return p.Issuer + "/ado/oidctoken" }

func (p *IdP) sign(alg string, claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": strings.ToLower(alg)})
	body, _ := json.Marshal(claims)
	input := b64(hdr) + "." + b64(body)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, p.ecKey, sum[:])
		if err != nil {
			panic(err)
		}
		sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	default:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, p.rsaKey, crypto.SHA256, sum[:]); err != nil {
			panic(err)
		}
	}
	return input + "." + b64(sig)
}

func (p *IdP) jwks(w http.ResponseWriter, _ *http.Request) {
	keys := []map[string]string{
		{"kty": "RSA", "kid": "rs256", "alg": "RS256", "use": "sig",
			"n": b64(p.rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(p.rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "es256", "alg": "ES256", "use": "sig", "crv": "P-256",
			"x": b64(p.ecKey.X.FillBytes(make([]byte, 32))), "y": b64(p.ecKey.Y.FillBytes(make([]byte, 32)))},
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// idToken is GitHub Actions' ID token endpoint: GET with the request
// token as bearer, audience as a query parameter, {"value": JWT} back.
func (p *IdP) idToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+p.RequestToken {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	p.issued++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"value": p.Token(r.URL.Query().Get("audience"))})
}

// adoToken is Azure DevOps' OIDC endpoint: POST with SYSTEM_ACCESSTOKEN
// as bearer, {"oidcToken": JWT} back, always for ADOAudience.
func (p *IdP) adoToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+p.RequestToken || r.URL.Query().Get("api-version") == "" {
		http.Error(w, `{"message":"denied"}`, http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	p.issued++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"oidcToken": p.Token(ADOAudience)})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	const hex = "0123456789abcdef"
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i], out[2*i+1] = hex[c>>4], hex[c&15]
	}
	return string(out)
}
