package profiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// TestStress runs 8 goroutines of login, logout, rotate, token (with and
// without scopes), forced refresh and rejection reports over 10 profiles
// against the emulator, with the background clean-up running, then checks
// the invariants the profile design promises:
//   - no token served that the workspace says is revoked or expired;
//   - at most 2 live derived tokens per source (current + one in grace);
//   - no live dbx-cred token of a login that is logged out or replaced,
//     and no root that rotate made but no profile uses;
//   - no store item without a registry entry, no registry entry without
//     its secret.
func TestStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	const (
		workers  = 8
		opsEach  = 400
		profiles = 10
		users    = 5
	)
	clk := tokensource.Scaled{Start: time.Now(), Speed: 10}
	emu := wsemu.New(wsemu.WithClock(clk.Now))
	srv := httptest.NewServer(emu)
	defer srv.Close()
	userNames := make([]string, users)
	for i := range userNames {
		userNames[i] = fmt.Sprintf("user%d@example.com", i)
		emu.AddUser(userNames[i])
	}
	ws := workspace.New(10 * time.Second)
	secrets, derived := store.NewMemory(), store.NewMemory()
	path := filepath.Join(t.TempDir(), "profiles.json")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := New(path, secrets, ws, Rotation{Tokens: ws.Tokens, Derived: derived, Clock: clk}, log)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { m.Run(runCtx, 200*time.Millisecond); close(runDone) }()

	// gate[i] orders a profile's token checks against the operations that
	// revoke what was served (logout, re-login): a token served and then
	// rightly revoked by a logout is no violation.
	var gate [profiles]sync.RWMutex
	scopeSets := [][]string{nil, {"sql"}, {"sql", "workspace"}, {"clusters"}}
	var ops, served, badTokens, refusals atomic.Int64
	var violations sync.Map
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range opsEach {
				i := rng.IntN(profiles)
				name := fmt.Sprintf("p%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				switch op := rng.IntN(20); {
				case op < 2: // login, as one of two users, rotating or static
					user := userNames[(i+rng.IntN(2))%users]
					pat, _ := emu.CreatePAT(user, "pasted by the test", 0, nil)
					opt := LoginOptions{Lifetime: 10 * time.Second}
					switch rng.IntN(4) {
					case 0:
						opt = LoginOptions{Static: true}
					case 1:
						opt.Lifetime = 6 * time.Minute // kept in the store
					}
					gate[i].Lock()
					_, _, err := m.Login(ctx, name, srv.URL, pat, opt)
					gate[i].Unlock()
					if err != nil {
						violations.Store("login: "+err.Error(), true)
					}
				case op < 3:
					gate[i].Lock()
					_, err := m.Logout(ctx, name)
					gate[i].Unlock()
					if err != nil && !strings.Contains(err.Error(), "unknown profile") {
						violations.Store("logout: "+err.Error(), true)
					}
				case op < 4:
					if _, err := m.Rotate(ctx, name); err != nil && !strings.Contains(err.Error(), "unknown profile") {
						violations.Store("rotate: "+err.Error(), true)
					}
				default:
					req := TokenRequest{Profile: name, Scopes: scopeSets[rng.IntN(len(scopeSets))], ForceRefresh: op == 5}
					gate[i].RLock()
					tok, err := m.Token(ctx, req)
					if err == nil {
						served.Add(1)
						if _, ok := emu.Authenticate(tok.Value); !ok {
							badTokens.Add(1)
						}
						if op == 6 {
							m.ReportRejected(ctx, req, tok.Value)
						}
					} else {
						refusals.Add(1)
						if !errors.Is(err, ErrUnknownProfile) && !strings.Contains(err.Error(), "cannot be narrowed to scopes") {
							violations.Store("token: "+err.Error(), true)
						}
					}
					gate[i].RUnlock()
				}
				cancel()
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	// Let superseded tokens pass their grace (at most 30 s of the scaled
	// clock: 3 s real) before counting what is alive.
	time.Sleep(3500 * time.Millisecond)

	t.Logf("%d operations by %d goroutines over %d profiles: %d tokens served, %d refused (static profiles asked for scopes, unknown profiles)",
		ops.Load(), workers, profiles, served.Load(), refusals.Load())
	violations.Range(func(k, _ any) bool { t.Errorf("operation failed: %v", k); return true })
	if n := badTokens.Load(); n > 0 {
		t.Errorf("%d served tokens were revoked or expired in the workspace", n)
	}

	// Live tokens per profile comment and scope set, across all users.
	m.mu.RLock()
	owners := map[string]*owner{}
	for n, o := range m.owners {
		owners[n] = o
	}
	m.mu.RUnlock()
	for _, u := range userNames {
		perSource := map[string]int{}
		for _, ti := range emu.LiveTokens(u) {
			if name, ok := strings.CutPrefix(ti.Comment, "dbx-cred root:"); ok {
				// dbx-cred root:<installation>:<profile>, made by rotate:
				// alive only while it is the root of that profile.
				name = name[strings.Index(name, ":")+1:]
				if o, ok := owners[name]; !ok || o.snapshot().RootID != ti.TokenID {
					t.Errorf("root token %s made by rotate for %s is alive, but no profile uses it", ti.TokenID, name)
				}
				continue
			}
			if !strings.HasPrefix(ti.Comment, "dbx-cred:") {
				continue
			}
			// dbx-cred:<installation>:<profile>:<login>
			parts := strings.Split(ti.Comment, ":")
			name, login := parts[2], parts[3]
			o, ok := owners[name]
			if !ok || o.snapshot().UserName != u || o.snapshot().LoginID != login {
				t.Errorf("token %s of %s (%s) is alive, but that login of the profile is logged out or replaced", ti.TokenID, u, ti.Comment)
				continue
			}
			perSource[name+"|"+scopeKey(ti.Scopes)]++
		}
		for src, n := range perSource {
			if n > 2 {
				t.Errorf("%d live derived tokens for source %s of %s; at most 2", n, src, u)
			}
		}
	}

	// Store and registry agree.
	reg, err := registry.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]registry.Profile{}
	for _, p := range reg.Profiles {
		byKey[secretKeyOf(p)] = p
		if _, err := secrets.Get(context.Background(), secretKeyOf(p)); err != nil {
			t.Errorf("registry entry %q has no secret: %v", p.Name, err)
		}
	}
	for _, k := range secrets.Keys() {
		if _, ok := byKey[k]; !ok {
			t.Errorf("store item %q has no registry entry", k)
		}
	}
	if len(reg.Pending) > 0 {
		t.Errorf("pending records left without any store timeout: %+v", reg.Pending)
	}
	for _, k := range derived.Keys() {
		ok := false
		for _, p := range reg.Profiles {
			for _, s := range p.KeptScopes {
				ok = ok || keptKey(p, s) == k
			}
		}
		if !ok {
			t.Errorf("kept token %q belongs to no current login (registry: %+v)", k, reg.Profiles)
		}
	}
	stopRun()
	<-runDone
}
