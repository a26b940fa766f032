package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

const (
	spID     = "sp-app-1"
	spSecret = "sp-secret-0123456789abcdef"
)

func newM2MWorld(t *testing.T) (*Manager, *store.Memory, string, string) {
	t.Helper()
	emu := wsemu.New()
	emu.AddServicePrincipal(spID, spSecret)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	ws := workspace.New(10 * time.Second)
	st := store.NewMemory()
	path := filepath.Join(t.TempDir(), "p.json")
	m, err := New(path, st, ws, Rotation{Tokens: ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return m, st, path, srv.URL
}

// The client secret is kept in its own field of the store item, the
// registry holds only the client id, and the profile serves access tokens
// the workspace takes as the service principal, also after a restart.
func TestM2MLoginStoresTheSecretAndServesAccessTokens(t *testing.T) {
	ctx := context.Background()
	m, st, path, host := newM2MWorld(t)
	p, _, err := m.Login(ctx, "ci", host, spSecret, LoginOptions{ClientID: spID})
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindOAuthM2M || p.ClientID != spID || p.UserName != spID || p.Mode == ModeRotating {
		t.Fatalf("profile: %+v", p)
	}
	raw, err := st.Get(ctx, p.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	var s secret
	if err := json.Unmarshal([]byte(raw), &s); err != nil || s.Kind != KindOAuthM2M || s.ClientSecret != spSecret || s.Token != "" {
		t.Fatalf("store item %q, %v", raw, err)
	}
	reg, _ := os.ReadFile(path)
	if strings.Contains(string(reg), spSecret) || !strings.Contains(string(reg), spID) {
		t.Fatalf("registry: %s", reg)
	}

	ws := workspace.New(10 * time.Second)
	check := func(m *Manager) {
		t.Helper()
		tok, err := m.Token(ctx, TokenRequest{Profile: "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Value == spSecret || tok.Expiry.IsZero() || tok.Served() != "oauth-m2m" {
			t.Fatalf("token: %+v", tok)
		}
		if u, err := ws.Me(ctx, host, tok.Value); err != nil || u.UserName != spID {
			t.Fatalf("Me with the served token: %+v, %v", u, err)
		}
	}
	check(m)
	again, err := New(path, st, ws, Rotation{Tokens: ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	check(again)

	if _, err := m.Token(ctx, TokenRequest{Profile: "ci", Scopes: []string{"sql"}}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("scoped request: %v", err)
	}
	if _, err := m.Rotate(ctx, "ci"); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--client-id "+spID) {
		t.Fatalf("rotate: %v", err)
	}
	res, err := m.Logout(ctx, "ci")
	if err != nil || len(res.Revoked) != 0 || !strings.Contains(res.Advice, "nothing to revoke") {
		t.Fatalf("logout: %+v, %v", res, err)
	}
	if keys := st.Keys(); len(keys) != 0 {
		t.Fatalf("logout left %v in the store", keys)
	}
}

func TestM2MWrongSecretStoresNothing(t *testing.T) {
	ctx := context.Background()
	m, st, _, host := newM2MWorld(t)
	_, _, err := m.Login(ctx, "ci", host, "not-the-secret", LoginOptions{ClientID: spID})
	if !errors.Is(err, ErrNeedsLogin) || !strings.Contains(err.Error(), "nothing was stored") || strings.Contains(err.Error(), "not-the-secret") {
		t.Fatalf("wrong secret: %v", err)
	}
	if keys := st.Keys(); len(keys) != 0 || len(m.Names()) != 0 {
		t.Fatalf("a refused secret left %v in the store, profiles %v", keys, m.Names())
	}
}

// A store item of one kind is never served as another's secret.
func TestSecretValueIsPerKind(t *testing.T) {
	var pat, m2m secret
	json.Unmarshal([]byte(encodeSecret("dapi-x")), &pat)
	json.Unmarshal([]byte(encodeClientSecret("cs-x")), &m2m)
	value := func(s secret, kind string) string {
		p := registry.Profile{Kind: kind}
		root, _, _ := credentialOf(p).fromStore(p, s)
		return root
	}
	if value(pat, KindPAT) != "dapi-x" || value(pat, KindOAuthM2M) != "" || value(m2m, KindOAuthM2M) != "cs-x" || value(m2m, KindPAT) != "" {
		t.Fatalf("pat %+v, m2m %+v", pat, m2m)
	}
}
