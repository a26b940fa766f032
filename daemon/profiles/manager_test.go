package profiles

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// countingStore counts reads, to prove the keyring is read once per profile.
type countingStore struct {
	store.Store
	gets atomic.Int32
	fail atomic.Bool
}

func (c *countingStore) Get(ctx context.Context, k string) (string, error) {
	c.gets.Add(1)
	if c.fail.Load() {
		return "", &store.UnavailableError{Op: "read", Key: k, Reason: "locked", Fix: "unlock it", Err: errors.New("locked")}
	}
	return c.Store.Get(ctx, k)
}

// static: these tests are about storage, not rotation (tokensource's tests).
var static = LoginOptions{Static: true}

func TestLoginStoresOnlyValidTokens(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, path := newManager(t, st)

	if _, _, err := m.Login(ctx, "prod", "https://ws.example.com", "dapi-bad", static); !errors.Is(err, ErrNeedsLogin) || !strings.Contains(err.Error(), "nothing was stored") {
		t.Fatalf("bad token: %v", err)
	}
	if _, _, err := m.Login(ctx, "prod", "unreachable.example.com", "dapi-good", static); err == nil || !strings.Contains(err.Error(), "cannot reach workspace https://unreachable.example.com") {
		t.Fatalf("unreachable: %v", err)
	}
	if _, _, err := m.Login(ctx, "prod", "ftp://x", "dapi-good", static); !errors.Is(err, ErrBadInput) {
		t.Fatalf("bad host: %v", err)
	}
	if _, err := st.Get(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed login stored something: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a failed login wrote the registry")
	}

	p, replaced, err := m.Login(ctx, "prod", "WS.example.com/", " dapi-good\n", static)
	if err != nil || replaced || p.Host != "https://ws.example.com" || p.UserName != "alice@example.com" || p.State != Ready {
		t.Fatalf("login: %+v %v %v", p, replaced, err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "dapi-good") {
		t.Fatal("the registry file holds the secret")
	}
	data, _ := registry.Load(path)
	list := data.Profiles
	if len(list) != 1 || list[0].Name != "prod" {
		t.Fatalf("registry: %+v", list)
	}
}

func TestTokenReadsKeyringOnceAndSurvivesKeyringFailure(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	m, path := newManager(t, st)
	if _, _, err := m.Login(ctx, "prod", "ws.example.com", "dapi-good", static); err != nil {
		t.Fatal(err)
	}
	// A fresh manager (a restarted daemon) must go to the keyring once.
	m2, err := New(path, st, fakeValidator{}, Rotation{}, m.env.log)
	if err != nil {
		t.Fatal(err)
	}
	if l := m2.List(); len(l) != 1 || l[0].State != Stored {
		t.Fatalf("after restart: %+v", l)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); err != nil || tok.Value != "dapi-good" {
				t.Errorf("Token = %+v, %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if n := st.gets.Load(); n != 1 {
		t.Fatalf("keyring read %d times, want 1", n)
	}
	st.fail.Store(true)
	if tok, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); err != nil || tok.Value != "dapi-good" {
		t.Fatalf("a keyring failure after loading stopped service: %v", err)
	}
}

func TestKeyringFailureIsReportedAndRetried(t *testing.T) {
	ctx := context.Background()
	st := &countingStore{Store: store.NewMemory()}
	m, path := newManager(t, st)
	m.Login(ctx, "prod", "ws.example.com", "dapi-good", static)
	m2, _ := New(path, st, fakeValidator{}, Rotation{}, m.env.log)
	st.fail.Store(true)
	var ue *store.UnavailableError
	if _, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnavailableError", err)
	}
	if l := m2.List(); l[0].State != KeyringUnavailable || !strings.Contains(l[0].StateMessage, "unlock it") {
		t.Fatalf("state: %+v", l[0])
	}
	st.fail.Store(false)
	if _, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); err != nil {
		t.Fatalf("recovery: %v", err)
	}
}

func TestUnknownProfileListsKnownOnes(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, store.NewMemory())
	if _, err := m.Token(ctx, TokenRequest{Profile: "nope"}); !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), "no profiles yet") {
		t.Fatalf("empty: %v", err)
	}
	m.Login(ctx, "prod", "ws.example.com", "dapi-good", static)
	m.Login(ctx, "dev", "ws2.example.com", "dapi-good", static)
	if _, err := m.Token(ctx, TokenRequest{Profile: "nope"}); !errors.Is(err, ErrUnknownProfile) || !strings.Contains(err.Error(), "known profiles: dev, prod") {
		t.Fatalf("known: %v", err)
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, path := newManager(t, st)
	m.Login(ctx, "prod", "ws.example.com", "dapi-good", static)
	if _, err := m.Logout(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if k := st.Keys(); len(k) != 0 {
		t.Fatalf("secrets survived logout: %q", k)
	}
	if l, _ := registry.Load(path); len(l.Profiles) != 0 {
		t.Fatalf("registry after logout: %+v", l)
	}
	if _, err := m.Logout(ctx, "prod"); !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("second logout: %v", err)
	}
}

func TestRegistryFailureRollsBackTheKeyring(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	m, err := New(filepath.Join(blocker, "profiles.json"), st, fakeValidator{good: "dapi-good"}, Rotation{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// The registry's directory becomes a regular file: every save fails.
	os.WriteFile(blocker, nil, 0o600)
	if _, _, err := m.Login(ctx, "prod", "ws.example.com", "dapi-good", static); err == nil {
		t.Fatal("login succeeded without a registry")
	}
	if k := st.Keys(); len(k) != 0 {
		t.Fatalf("the keyring kept a secret the registry does not know: %q", k)
	}
}

func TestValidateName(t *testing.T) {
	for _, bad := range []string{"", " x", "x ", "__settings__", "a]b", "a\nb", strings.Repeat("x", 129)} {
		if ValidateName(bad) == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	for _, good := range []string{"DEFAULT", "prod", "my ws", "a'b\"c$(x)`y`;z", "ünïcode"} {
		if err := ValidateName(good); err != nil {
			t.Errorf("ValidateName(%q) = %v", good, err)
		}
	}
}

func TestProfileForHost(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, store.NewMemory())
	m.Login(ctx, "prod", "https://ws.example.com", "dapi-good", static)
	m.Login(ctx, "dev", "https://dev.example.com", "dapi-good", static)
	m.Login(ctx, "dev2", "dev.example.com/", "dapi-good", static)
	if tok, err := m.Token(ctx, TokenRequest{Host: "WS.example.com/"}); err != nil || tok.Profile.Name != "prod" {
		t.Fatalf("by host: %+v %v", tok, err)
	}
	if _, err := m.Token(ctx, TokenRequest{Host: "https://none.example.com"}); !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("unknown host: %v", err)
	}
	if _, err := m.ProfileForHost("https://dev.example.com"); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "dev, dev2") {
		t.Fatalf("ambiguous host: %v", err)
	}
}

// A restarted daemon loading a profile in its start-up pass while clients
// ask for it at once: every client gets the token (the source exists as
// soon as the profile counts as loaded).
func TestConcurrentFirstRequestsAfterRestart(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	m, path := newManager(t, st)
	if _, _, err := m.Login(ctx, "prod", "ws.example.com", "dapi-good", static); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		m2, err := New(path, st, fakeValidator{}, Rotation{}, m.env.log)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if tok, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); err != nil || tok.Value != "dapi-good" {
					t.Errorf("Token = %+v, %v", tok, err)
				}
			}()
		}
		wg.Wait()
	}
}

// A locked file store is not a broken keyring: list says "locked", and
// the profile is back to stored once the store answers again.
func TestLockedStoreShowsAsLocked(t *testing.T) {
	ctx := context.Background()
	st := &lockableStore{Memory: store.NewMemory()}
	m, path := newManager(t, st)
	if _, _, err := m.Login(ctx, "prod", "ws.example.com", "dapi-good", static); err != nil {
		t.Fatal(err)
	}
	m2, _ := New(path, st, fakeValidator{}, Rotation{}, m.env.log)
	st.locked.Store(true)
	if _, err := m2.Token(ctx, TokenRequest{Profile: "prod"}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	if l := m2.List(); l[0].State != Locked || !strings.Contains(l[0].StateMessage, "dbx-cred unlock") {
		t.Fatalf("state: %+v", l[0])
	}
	st.locked.Store(false)
	m2.StoreBack(ctx)
	if l := m2.List(); l[0].State != Stored {
		t.Fatalf("after the store came back: %+v", l[0])
	}
}

// Bad input says what is wrong and the fix, with its kind beside the
// message, not as an "invalid input:" prefix in it.
func TestBadInputHasNoStatusPrefix(t *testing.T) {
	ctx := context.Background()
	m, _ := newManager(t, store.NewMemory())
	for _, err := range []error{
		func() error { _, _, err := m.Login(ctx, "prod", "ftp://x", "dapi-good", static); return err }(),
		func() error { _, _, err := m.Login(ctx, "", "https://ws.example.com", "dapi-good", static); return err }(),
		func() error {
			_, _, err := m.Login(ctx, "prod", "https://ws.example.com", "dapi-good", LoginOptions{Lifetime: 5 * time.Second})
			return err
		}(),
	} {
		if !errors.Is(err, ErrBadInput) || errkind.Of(err) != errkind.BadInput || strings.Contains(err.Error(), "invalid input") {
			t.Errorf("%v: want a bad-input error without the prefix", err)
		}
	}
}

// A registry from before installation ids gets one at its first load, and
// keeps it: it namespaces the metadata URLs' store items.
func TestInstallIDIsRecordedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	if err := registry.Save(path, registry.Data{Profiles: []registry.Profile{{Name: "prod", Host: "https://ws.example.com", Kind: KindPAT, Mode: ModeStatic, SecretKey: "prod\x1f01"}}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	m1, err := New(path, store.NewMemory(), fakeValidator{}, Rotation{}, log)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := New(path, store.NewMemory(), fakeValidator{}, Rotation{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if id := m1.InstallID(); id == "" || id != m2.InstallID() {
		t.Fatalf("install ids %q and %q: want one, kept", id, m2.InstallID())
	}
}
