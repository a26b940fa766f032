package profiles

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// An import whose proving refresh succeeded but whose validation then
// failed (a network blip at SCIM Me) stored nothing; the token it
// presented is superseded. Running the import again (the helper left the
// CLI's cache entry, as it should on an error) must not present it again:
// that counts as theft and revokes the whole login family.
func TestU2MImportRetryAfterFailedValidationDoesNotReuse(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.managerFailingMeOnce(t)
	defer m.Unload(context.Background())
	_, imp := w.otherToolsLogin()
	if _, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp); err == nil {
		t.Fatal("first import: validation failed, want an error")
	}
	_, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the rerun presented the superseded refresh token again: %+v (err %v)", st, err)
	}
	if !errors.Is(err, ErrNeedsLogin) {
		t.Fatalf("rerun: %v, want needs-login", err)
	}
}

// Two imports of the same refresh token at once (two helpers) must
// present it once: the second presentation is a reuse, which revokes the
// login the first one just stored.
func TestU2MConcurrentImportsPresentOnce(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithOAuthRefreshLatency(200_000_000))
	m := w.manager(t)
	defer m.Unload(context.Background())
	_, imp := w.otherToolsLogin()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
		}()
	}
	wg.Wait()
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the refresh token was presented twice: %+v", st)
	}
	if _, err := m.Token(ctx, TokenRequest{Profile: "cli"}); err != nil {
		t.Fatalf("the stored import does not work: %v", err)
	}
}

// Logout of a U2M login the daemon has not used since it started (no
// source yet) still revokes the refresh token where the workspace offers
// revocation, as it does for one in use.
func TestU2MLogoutRevokesAnUnloadedLogin(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithOAuthRevocation())
	m := w.manager(t)
	access, refresh := w.emu.IssueOAuthLogin(u2mUser, "")
	if _, _, err := m.LoginU2M(ctx, "dev", w.host, LoginOptions{}, U2MLogin{
		TokenURL: w.host + wsemu.PathOIDCToken, RevocationURL: w.host + "/oidc/v1/revoke",
		Token: &oauth2.Token{AccessToken: access, RefreshToken: refresh, ExpiresIn: 3600},
	}); err != nil {
		t.Fatal(err)
	}
	m.Unload(ctx)
	m2 := w.manager(t) // a restarted daemon
	defer m2.Unload(context.Background())
	res, err := m2.Logout(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if w.emu.RefreshTokenLive(refresh) || len(res.Revoked) == 0 {
		t.Fatalf("logout left the refresh token live: %+v, stats %+v", res, w.emu.OAuthStats())
	}
}

// Two .databrickscfg profiles of one host can find the same token cache
// entry (keyed by host): importing it into the second after the first
// must not present it again, even in a restarted daemon, as that revokes
// the login the first import stored.
func TestU2MImportIntoAnotherProfileDoesNotReuse(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.manager(t)
	_, imp := w.otherToolsLogin()
	if _, _, err := m.LoginU2M(ctx, "a", w.host, LoginOptions{}, imp); err != nil {
		t.Fatal(err)
	}
	m.Unload(ctx)
	m2 := w.manager(t)
	defer m2.Unload(context.Background())
	_, _, err := m2.LoginU2M(ctx, "b", w.host, LoginOptions{}, imp)
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the superseded refresh token was presented again: %+v (err %v)", st, err)
	}
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("err %v, want one naming profile a", err)
	}
	if _, err := m2.Token(ctx, TokenRequest{Profile: "a", ForceRefresh: true}); err != nil {
		t.Fatalf("profile a: %v", err)
	}
}

// lockableStore is a store that can be locked, as the file store is by
// dbx-cred lock: every call then fails as the file store's do.
type lockableStore struct {
	*store.Memory
	locked atomic.Bool
}

func (l *lockableStore) Set(ctx context.Context, k, v string) error {
	if l.locked.Load() {
		return &store.UnavailableError{Op: "write", Key: k, Reason: "it is locked", Fix: "dbx-cred unlock", Err: store.ErrLocked}
	}
	return l.Memory.Set(ctx, k, v)
}

func (l *lockableStore) Get(ctx context.Context, k string) (string, error) {
	if l.locked.Load() {
		return "", &store.UnavailableError{Op: "read", Key: k, Reason: "it is locked", Fix: "dbx-cred unlock", Err: store.ErrLocked}
	}
	return l.Memory.Get(ctx, k)
}

// dbx-cred lock unloads the profiles, then locks the file store
// (daemon/store/manage). Unload waits for a U2M refresh in flight, so its
// rotated refresh token is stored while the store is still open; locked
// first, the token would be lost and the profile need a new login.
func TestU2MLockDuringRefreshKeepsTheLogin(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t, wsemu.WithOAuthRefreshLatency(300*time.Millisecond), wsemu.WithOAuthAccessLifetime(8*time.Second))
	st := &lockableStore{Memory: w.st}
	m, err := New(w.path, st, w.ws, Rotation{Tokens: w.ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unload(context.Background())
	access, rt := w.emu.IssueOAuthLogin(u2mUser, "")
	if _, _, err := m.LoginU2M(ctx, "dev", w.host, LoginOptions{}, U2MLogin{
		TokenURL: w.host + wsemu.PathOIDCToken, Token: &oauth2.Token{AccessToken: access, RefreshToken: rt, ExpiresIn: 8},
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // past the forced refresh's minimum age
	done := make(chan error, 1)
	go func() {
		_, err := m.Token(ctx, TokenRequest{Profile: "dev", ForceRefresh: true})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the refresh is at the workspace
	m.Unload(ctx)                      // dbx-cred lock: the profiles first...
	st.locked.Store(true)              // ...then the vault
	<-done
	st.locked.Store(false) // dbx-cred unlock
	if _, err := m.Token(ctx, TokenRequest{Profile: "dev"}); err != nil {
		t.Fatalf("after lock and unlock: %v (stats %+v)", err, w.emu.OAuthStats())
	}
}

// The record of presented imports survives a restart: a daemon restarted
// after an import that rotated the token but stored nothing still refuses
// to present it again.
func TestU2MImportRetryAfterARestartDoesNotReuse(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	m := w.managerFailingMeOnce(t)
	cliCopy, imp := w.otherToolsLogin()
	if _, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp); err == nil {
		t.Fatal("first import: validation failed, want an error")
	}
	m.Unload(ctx)

	m2 := w.manager(t)
	defer m2.Unload(context.Background())
	_, _, err := m2.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the restarted daemon presented the superseded refresh token: %+v (err %v)", st, err)
	}
	if !errors.Is(err, ErrNeedsLogin) {
		t.Fatalf("rerun: %v, want needs-login", err)
	}
	reg, _ := os.ReadFile(w.path)
	if strings.Contains(string(reg), cliCopy) {
		t.Fatal("the registry holds the refresh token itself")
	}
}

// managerFailingMeOnce is w's manager with a validator whose first SCIM Me
// fails: an import's proving refresh then rotates the token, and nothing
// is stored.
func (w *u2mWorld) managerFailingMeOnce(t *testing.T) *Manager {
	t.Helper()
	v := &flakyMe{Client: w.ws}
	v.fail.Store(1)
	m, err := New(w.path, w.st, v, Rotation{Tokens: w.ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return m
}
