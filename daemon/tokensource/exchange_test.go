package tokensource

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/oidcidp"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// exchangeRig is a workspace with a federation policy for the IdP's
// tokens, and a token-exchange source asking it with a fresh JWT each time.
func exchangeRig(t *testing.T, audience string) (*wsemu.Emulator, *oidcidp.IdP, *ClientCredentials, *int) {
	idp := oidcidp.New()
	t.Cleanup(idp.Close)
	emu := wsemu.New(wsemu.WithOAuthAccessLifetime(time.Hour))
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	tokenURL := srv.URL + wsemu.PathOIDCToken
	emu.AddFederationPolicy(wsemu.FederationPolicy{Issuer: idp.Issuer, Audiences: []string{tokenURL}, JWKSURL: idp.JWKSURL(),
		ClientID: "sp-app", UserName: "sp-app"})
	if audience == "" {
		audience = tokenURL
	}
	var mu sync.Mutex
	jwts := 0
	src := NewClientCredentials(ClientCredentialsConfig{TokenURL: tokenURL, ClientID: "sp-app",
		Exchange: func(context.Context) (url.Values, error) {
			mu.Lock()
			jwts++
			mu.Unlock()
			return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "subject_token": {idp.Token(audience)}}, nil
		}})
	t.Cleanup(src.Stop)
	return emu, idp, src, &jwts
}

// Forty clients cost one exchange; a token of a few seconds is renewed at
// half its life, so none handed out is about to expire.
func TestExchangeOneForManyAndShortLives(t *testing.T) {
	emu, idp, src, _ := exchangeRig(t, "")
	idp.SetLifetime(4 * time.Second)
	var wg sync.WaitGroup
	vals := make([]string, 40)
	for i := range vals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			vals[i] = tok.Value
		}()
	}
	wg.Wait()
	if n := emu.Exchanges(); n != 1 {
		t.Fatalf("40 clients cost %d exchanges", n)
	}
	first := vals[0]
	if tok, _ := src.Token(context.Background()); tok.Value != first || time.Until(tok.Expiry) > 4*time.Second {
		t.Fatalf("token %v expiry in %s", tok.Value == first, time.Until(tok.Expiry))
	}
	time.Sleep(2500 * time.Millisecond) // past half its life
	tok, err := src.Token(context.Background())
	if err != nil || tok.Value == first || emu.Exchanges() != 2 {
		t.Fatalf("after half its life: new %v, %d exchanges, %v", tok.Value != first, emu.Exchanges(), err)
	}
}

// A refused exchange says why, in the workspace's words, and is not
// retried by every caller at once.
func TestExchangeRefusedBacksOff(t *testing.T) {
	emu, _, src, jwts := exchangeRig(t, "https://wrong-audience")
	_, err := src.Token(context.Background())
	if !errors.Is(err, ErrExchangeRefused) || !strings.Contains(err.Error(), "audience does not match") {
		t.Fatalf("wrong audience: %v", err)
	}
	for range 10 {
		if _, err2 := src.Token(context.Background()); err2 == nil {
			t.Fatal("succeeded")
		}
	}
	if *jwts != 1 || emu.Exchanges() != 0 {
		t.Errorf("%d JWTs asked for while backing off, want 1", *jwts)
	}
}
