package profiles

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// An account-level login records its account id, gets tokens from the
// account's endpoint (which only the account API takes), and lookups by
// host tell it from another profile of the same host by the account id.
func TestAccountM2MLoginAndLookupByAccount(t *testing.T) {
	ctx := context.Background()
	const acct = "acct-0123"
	emu := wsemu.New(wsemu.WithAccountID(acct))
	emu.AddServicePrincipal(spID, spSecret)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	ws := workspace.New(10 * time.Second)
	path := filepath.Join(t.TempDir(), "p.json")
	m, err := New(path, store.NewMemory(), ws, Rotation{Tokens: ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}

	p, _, err := m.Login(ctx, "acct", srv.URL, spSecret, LoginOptions{ClientID: spID, AccountID: acct})
	if err != nil {
		t.Fatal(err)
	}
	if p.AccountID != acct || p.Kind != KindOAuthM2M || p.UserName != spID {
		t.Fatalf("profile: %+v", p)
	}
	if n := emu.Requests("POST", wsemu.AccountOIDCPath(acct, "token")); n != 1 {
		t.Fatalf("account token endpoint: %d requests, want 1", n)
	}
	tok, err := m.Token(ctx, TokenRequest{Profile: "acct"})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := ws.AccountMe(ctx, srv.URL, acct, tok.Value); err != nil || u.UserName != spID {
		t.Fatalf("account Me: %+v %v", u, err)
	}
	if _, err := ws.Me(ctx, srv.URL, tok.Value); !errors.Is(err, workspace.ErrRejected) {
		t.Fatalf("workspace Me took an account token: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), `"account_id": "`+acct+`"`) && !strings.Contains(string(raw), `"account_id":"`+acct+`"`) {
		t.Fatalf("registry does not record the account id: %s", raw)
	}

	// A workspace-level profile on the same host.
	if _, _, err := m.Login(ctx, "ws", srv.URL, spSecret, LoginOptions{ClientID: spID}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ProfileForHost(srv.URL); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--account-id") {
		t.Fatalf("host alone with two profiles: %v", err)
	}
	if tok, err := m.Token(ctx, TokenRequest{Host: srv.URL, AccountID: acct}); err != nil || tok.Profile.Name != "acct" {
		t.Fatalf("by host and account: %+v %v", tok.Profile.Name, err)
	}
	if _, err := m.Token(ctx, TokenRequest{Host: srv.URL, AccountID: "other"}); !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), "account other") {
		t.Fatalf("another account: %v", err)
	}

	// A restart keeps the account id and still asks the account endpoint.
	m2, err := New(path, store.NewMemory(), ws, Rotation{Tokens: ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.ProfileForAccount(srv.URL, acct); err != nil || got != "acct" {
		t.Fatalf("after restart: %q %v", got, err)
	}
}

// --account-id is for service principals, and a wrong one stores nothing.
func TestAccountLoginRefusals(t *testing.T) {
	ctx := context.Background()
	m, st, _, host := newM2MWorld(t)
	if _, _, err := m.Login(ctx, "a", host, "dapi-x", LoginOptions{AccountID: "acct"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("account id without client id: %v", err)
	}
	if _, _, err := m.Login(ctx, "a", host, spSecret, LoginOptions{ClientID: spID, AccountID: "a/../b"}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("account id with a slash: %v", err)
	}
	_, _, err := m.Login(ctx, "a", host, spSecret, LoginOptions{ClientID: spID, AccountID: "not-the-emulators"})
	if err == nil || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("wrong account id: %v", err)
	}
	if keys, _ := st.List(ctx); len(keys) != 0 {
		t.Fatalf("a failed account login stored %v", keys)
	}
	if len(m.Names()) != 0 {
		t.Fatalf("a failed account login made profiles %v", m.Names())
	}
}

// status's access-token expiry and last refresh error of an M2M profile
// come from its client-credentials source: the expiry of the token served,
// and, once the secret is refused, that error and needs-login.
func TestM2MViewShowsExpiryAndLastError(t *testing.T) {
	ctx := context.Background()
	// Shorter than twice the five minutes kept in hand: renewed at half
	// its life, which the test's clock passes below.
	clk := newFakeClock()
	emu := wsemu.New(wsemu.WithOAuthAccessLifetime(time.Minute), wsemu.WithClock(clk.Now))
	emu.AddServicePrincipal(spID, spSecret)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	ws := workspace.New(10 * time.Second)
	m, err := New(filepath.Join(t.TempDir(), "p.json"), store.NewMemory(), ws, Rotation{Tokens: ws.Tokens, Clock: clk}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Login(ctx, "ci", srv.URL, spSecret, LoginOptions{ClientID: spID}); err != nil {
		t.Fatal(err)
	}
	view := func() Profile {
		for _, p := range m.List() {
			if p.Name == "ci" {
				return p
			}
		}
		t.Fatal("no profile ci")
		return Profile{}
	}
	p := view()
	if p.CurrentExpiry.IsZero() || time.Until(p.CurrentExpiry) > 2*time.Minute || p.LastError != "" || p.State != Ready {
		t.Fatalf("after login: expiry %v, last error %q, state %v", p.CurrentExpiry, p.LastError, p.State)
	}
	emu.AddServicePrincipal(spID, "a-new-secret-the-daemon-does-not-have")
	clk.advance(31 * time.Second)
	if _, err := m.Token(ctx, TokenRequest{Profile: "ci"}); !errors.Is(err, ErrNeedsLogin) {
		t.Fatalf("token with a replaced secret: %v", err)
	}
	p = view()
	if p.LastError == "" || p.State != NeedsLogin {
		t.Fatalf("after a refused refresh: last error %q, state %v", p.LastError, p.State)
	}
}
