package profiles

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

const u2mUser = "alice@example.com"

type u2mWorld struct {
	emu  *wsemu.Emulator
	host string
	st   *store.Memory
	path string
	ws   *workspace.Client
}

func newU2MWorld(t *testing.T, opts ...wsemu.Option) *u2mWorld {
	t.Helper()
	emu := wsemu.New(opts...)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &u2mWorld{emu: emu, host: srv.URL, st: store.NewMemory(), path: filepath.Join(t.TempDir(), "p.json"), ws: workspace.New(10 * time.Second)}
}

func (w *u2mWorld) manager(t *testing.T) *Manager {
	t.Helper()
	m, err := New(w.path, w.st, w.ws, Rotation{Tokens: w.ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (w *u2mWorld) login(t *testing.T, m *Manager, name, accountID string) (Profile, string) {
	t.Helper()
	access, refresh := w.emu.IssueOAuthLogin(u2mUser, accountID)
	tokenURL := w.host + wsemu.PathOIDCToken
	if accountID != "" {
		tokenURL = w.host + "/oidc/accounts/" + accountID + "/v1/token"
	}
	p, _, err := m.LoginU2M(context.Background(), name, w.host, LoginOptions{AccountID: accountID}, U2MLogin{
		TokenURL: tokenURL, Token: (&oauth2.Token{AccessToken: access, RefreshToken: refresh, ExpiresIn: 3600}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, refresh
}

func (w *u2mWorld) stored(t *testing.T, key string) secret {
	t.Helper()
	raw, err := w.st.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	var s secret
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// The refresh token lives only in the store; the registry holds the
// token endpoint; tokens are served as oauth-u2m and work at the
// workspace; a restarted daemon serves the stored access token without a
// refresh.
func TestU2MLoginStoresTheRefreshTokenOnly(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	p, refresh := w.login(t, m, "dev", "")
	if p.Kind != KindOAuthU2M || p.UserName != u2mUser || p.Mode != "" || p.ClientID != DefaultOAuthClientID {
		t.Fatalf("profile %+v", p)
	}
	if s := w.stored(t, p.SecretKey); s.Kind != KindOAuthU2M || s.RefreshToken != refresh || s.Gen != 1 {
		t.Fatalf("store item %+v", s)
	}
	reg, _ := os.ReadFile(w.path)
	if strings.Contains(string(reg), refresh) || !strings.Contains(string(reg), wsemu.PathOIDCToken) {
		t.Fatalf("registry: %s", reg)
	}
	tok, err := m.Token(ctx, TokenRequest{Profile: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Served() != "oauth-u2m" || tok.Value == refresh {
		t.Fatalf("token %+v", tok)
	}
	if u, err := w.ws.Me(ctx, w.host, tok.Value); err != nil || u.UserName != u2mUser {
		t.Fatalf("Me: %+v %v", u, err)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "dev", Scopes: []string{"sql"}}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("scoped U2M token: %v", err)
	}
	if _, err := m.Rotate(ctx, "dev"); !errors.Is(err, ErrBadInput) {
		t.Fatalf("rotate: %v", err)
	}
	m.Unload(ctx)

	m2 := w.manager(t)
	defer m2.Unload(context.Background())
	tok2, err := m2.Token(ctx, TokenRequest{Profile: "dev"})
	if err != nil || tok2.Value != tok.Value {
		t.Fatalf("after restart: %v, same token %v", err, tok2.Value == tok.Value)
	}
	if st := w.emu.OAuthStats(); st.Refreshes != 0 {
		t.Fatalf("a restart refreshed: %+v", st)
	}
}

// A forced refresh rotates the refresh token: the new one is stored (and
// read back) before its access token is served, the generation moves on,
// and the in-flight record names the generation presented.
func TestU2MRefreshStoresBeforeServing(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithOAuthRefreshLatency(30*time.Millisecond), wsemu.WithOAuthAccessLifetime(8*time.Second))
	m := w.manager(t)
	defer m.Unload(context.Background())
	access, first := w.emu.IssueOAuthLogin(u2mUser, "")
	p, _, err := m.LoginU2M(ctx, "dev", w.host, LoginOptions{}, U2MLogin{
		TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{AccessToken: access, RefreshToken: first, ExpiresIn: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := m.Token(ctx, TokenRequest{Profile: "dev"})
	// Forced refreshes are refused for a quarter of the token's life.
	time.Sleep(2100 * time.Millisecond)
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m.Token(ctx, TokenRequest{Profile: "dev", ForceRefresh: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st := w.emu.OAuthStats()
	if st.Refreshes != 1 || st.RefreshOverlaps != 0 || st.Reuses != 0 {
		t.Fatalf("40 forced refreshes: %+v, want exactly one refresh", st)
	}
	tok, _ := m.Token(ctx, TokenRequest{Profile: "dev"})
	s := w.stored(t, p.SecretKey)
	if tok.Value == old.Value || s.AccessToken != tok.Value || s.Gen != 2 || s.RefreshToken == first || !w.emu.RefreshTokenLive(s.RefreshToken) {
		t.Fatalf("stored %+v after refresh", s)
	}
	data, _ := registry.Load(w.path)
	if data.Profiles[0].RefreshInFlight != 1 {
		t.Fatalf("in-flight record %d, want 1 (the generation presented)", data.Profiles[0].RefreshInFlight)
	}
}

// A crash between the server's answer and the store write leaves the
// stored generation marked in flight: the next daemon must not present
// that refresh token (the workspace may have rotated it, and a reuse
// revokes the whole login), and says to log in again.
func TestU2MCrashAfterTheAnswerNeverReusesTheRefreshToken(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	p, _ := w.login(t, m, "dev", "")
	m.Unload(ctx)
	// What a kill -9 after "u2m-after-response" leaves: the registry names
	// generation 1 in flight, the store still holds generation 1.
	data, _ := registry.Load(w.path)
	data.Profiles[0].RefreshInFlight = 1
	if err := registry.Save(w.path, data); err != nil {
		t.Fatal(err)
	}
	// Make the stored access token stale so a refresh would be needed.
	s := w.stored(t, p.SecretKey)
	s.AccessExpiry = time.Now().Add(-time.Minute)
	b, _ := json.Marshal(s)
	w.st.Set(ctx, p.SecretKey, string(b))

	m2 := w.manager(t)
	defer m2.Unload(context.Background())
	_, err := m2.Token(ctx, TokenRequest{Profile: "dev"})
	if !errors.Is(err, ErrNeedsLogin) || !strings.Contains(err.Error(), "--oauth") {
		t.Fatalf("err %v", err)
	}
	if st := w.emu.OAuthStats(); st.Refreshes != 0 || st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the refresh token was presented: %+v", st)
	}
}

// An import proves the refresh token with one refresh (so the other
// tool's copy is dead) and stores the rotated one; a refused one stores
// nothing.
func TestU2MImport(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	defer m.Unload(context.Background())
	_, cliCopy := w.emu.IssueOAuthLogin(u2mUser, "")
	p, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, U2MLogin{TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{RefreshToken: cliCopy}})
	if err != nil {
		t.Fatal(err)
	}
	s := w.stored(t, p.SecretKey)
	if w.emu.RefreshTokenLive(cliCopy) || !w.emu.RefreshTokenLive(s.RefreshToken) || s.Gen != 2 || s.AccessToken == "" {
		t.Fatalf("stored %+v; the CLI's copy live: %v", s, w.emu.RefreshTokenLive(cliCopy))
	}

	_, dead := w.emu.IssueOAuthLogin(u2mUser, "")
	w.emu.RevokeOAuthFamily(dead)
	_, _, err = m.LoginU2M(ctx, "gone", w.host, LoginOptions{}, U2MLogin{TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{RefreshToken: dead}})
	if !errors.Is(err, ErrNeedsLogin) || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("err %v", err)
	}
	if keys, _ := w.st.List(ctx); len(keys) != 1 {
		t.Fatalf("store keys %v, want only the first import's", keys)
	}
}

// Account-level U2M: validated at the account's SCIM Me, refreshed at the
// account's token endpoint.
func TestU2MAccountLevel(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithAccountID("acc-1"))
	m := w.manager(t)
	defer m.Unload(context.Background())
	p, _ := w.login(t, m, "acct", "acc-1")
	if p.AccountID != "acc-1" || p.UserName != u2mUser {
		t.Fatalf("profile %+v", p)
	}
	tok, err := m.Token(ctx, TokenRequest{Host: w.host, AccountID: "acc-1", ForceRefresh: true})
	if err != nil || tok.Profile.Name != "acct" {
		t.Fatalf("%+v %v", tok, err)
	}
}

// Logout without a revocation endpoint says it could not revoke, and
// leaves nothing in the store.
func TestU2MLogoutSaysWhatItCouldNotRevoke(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	defer m.Unload(context.Background())
	w.login(t, m, "dev", "")
	res, err := m.Logout(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Revoked) != 0 || !strings.Contains(res.Advice, "no OAuth revocation endpoint") {
		t.Fatalf("%+v", res)
	}
	if keys, _ := w.st.List(ctx); len(keys) != 0 {
		t.Fatalf("store keys %v", keys)
	}
}

// invalid_grant (here: the login revoked in the workspace) puts the
// profile in needs-login, with a message naming the login command.
func TestU2MRefusedRefreshTokenNeedsLogin(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithOAuthAccessLifetime(8*time.Second))
	m := w.manager(t)
	defer m.Unload(context.Background())
	access, rt := w.emu.IssueOAuthLogin(u2mUser, "")
	if _, _, err := m.LoginU2M(ctx, "dev", w.host, LoginOptions{}, U2MLogin{
		TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{AccessToken: access, RefreshToken: rt, ExpiresIn: 8},
	}); err != nil {
		t.Fatal(err)
	}
	w.emu.RevokeOAuthFamily(rt)
	time.Sleep(2100 * time.Millisecond)
	_, err := m.Token(ctx, TokenRequest{Profile: "dev", ForceRefresh: true})
	if !errors.Is(err, ErrNeedsLogin) || !strings.Contains(err.Error(), "dbx-cred login -p dev --host "+w.host+" --oauth") {
		t.Fatalf("err %v", err)
	}
	if p := m.List()[0]; p.State != NeedsLogin {
		t.Fatalf("state %v", p.State)
	}
}

// An import rerun with the same (now superseded) refresh token, as after a
// crash that left it in the CLI's cache, is answered from the profile the
// first import made, without presenting it: a reuse would revoke the login.
func TestU2MImportRerunDoesNotReuse(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	defer m.Unload(context.Background())
	cliCopy, imp := w.otherToolsLogin()
	first, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
	if err != nil {
		t.Fatal(err)
	}
	again, replaced, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
	if err != nil || replaced || again.LoginID != first.LoginID {
		t.Fatalf("rerun: %+v replaced=%v err=%v", again, replaced, err)
	}
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 || st.Refreshes != 1 {
		t.Fatalf("stats %+v", st)
	}
	reg, _ := os.ReadFile(w.path)
	if strings.Contains(string(reg), cliCopy) {
		t.Fatal("the registry holds the refresh token itself")
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "cli"}); err != nil {
		t.Fatal(err)
	}
}

// otherToolsLogin is a login another tool (the CLI) holds: its refresh
// token, and the import of it.
func (w *u2mWorld) otherToolsLogin() (string, U2MLogin) {
	_, rt := w.emu.IssueOAuthLogin(u2mUser, "")
	return rt, U2MLogin{TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{RefreshToken: rt}}
}
