package tokensource

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

func clientCredsRig(t *testing.T, secret string) (*wsemu.Emulator, *ClientCredentials) {
	emu := wsemu.New(wsemu.WithOAuthAccessLifetime(time.Hour))
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	emu.AddServicePrincipal("sp-app-id", "the-secret")
	return emu, NewClientCredentials(ClientCredentialsConfig{TokenURL: srv.URL + wsemu.PathOIDCToken, ClientID: "sp-app-id", ClientSecret: secret})
}

// M2M is one more leaf behind Source: forty clients at once cost one
// client_credentials request, and the token works against the workspace.
func TestClientCredentialsOneRequestForManyClients(t *testing.T) {
	emu, s := clientCredsRig(t, "the-secret")
	var wg sync.WaitGroup
	tokens := make([]string, 40)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.Token(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			tokens[i] = tok.Value
		}()
	}
	wg.Wait()
	if n := emu.OAuthStats().ClientCredentials; n != 1 {
		t.Fatalf("%d client_credentials requests for 40 concurrent clients; want 1", n)
	}
	if u, ok := emu.Authenticate(tokens[0]); !ok || u != "sp-app-id" {
		t.Fatalf("the access token does not authenticate as the service principal (%q, %v)", u, ok)
	}
	if !s.Refresh("", 0) {
		t.Fatal("a forced refresh was refused")
	}
	if _, err := s.Token(context.Background()); err != nil || emu.OAuthStats().ClientCredentials != 2 {
		t.Fatalf("after a forced refresh: %v, %d requests", err, emu.OAuthStats().ClientCredentials)
	}
}

// A wrong secret is a clear, typed refusal, and status says needs login.
func TestClientCredentialsWrongSecret(t *testing.T) {
	_, s := clientCredsRig(t, "not-the-secret")
	_, err := s.Token(context.Background())
	if !errors.Is(err, ErrClientRejected) {
		t.Fatalf("err = %v; want ErrClientRejected", err)
	}
	if !s.Status().NeedsLogin {
		t.Fatal("status does not say needs login")
	}
}
