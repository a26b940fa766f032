package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/audit"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
)

const (
	prodHost  = "https://adb-1.azuredatabricks.net"
	prodToken = "dapi-prod-secret"
)

// fakeTokens stands in for the core: it records each hand-out with the
// caller the handler names, as the core does.
type fakeTokens struct {
	hosts  map[string]string
	tokens map[string]Token
	err    error
	audit  *audit.Log
}

func (f *fakeTokens) Host(p string) (string, bool) { h, ok := f.hosts[p]; return h, ok }

func (f *fakeTokens) Token(_ context.Context, p string, c Caller) (Token, error) {
	if f.err != nil {
		return Token{}, f.err
	}
	t := f.tokens[p]
	if f.audit != nil {
		f.audit.Record(audit.Event{Profile: p, Channel: "metadata", PeerUID: c.UID, PeerPID: c.PID, Kind: "pat", Expiry: t.Expiry})
	}
	return t, nil
}

type fixture struct {
	srv    *httptest.Server
	paths  *Paths
	tokens *fakeTokens
	audit  *audit.Log
	logs   *bytes.Buffer
	mu     sync.Mutex // guards peer and peerEr: the accept loop reads them
	peer   tcppeer.Peer
	peerEr error
	now    time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{logs: &bytes.Buffer{}, now: time.Unix(1_800_000_000, 0), peer: tcppeer.Peer{UID: 1000}}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.paths = NewPaths(store.NewMemory(), "inst", func() []string { return []string{"prod", "dev"} }, log)
	f.tokens = &fakeTokens{
		hosts: map[string]string{"prod": prodHost, "dev": "https://dev.cloud.databricks.com"},
		tokens: map[string]Token{
			"prod": {Value: prodToken, Expiry: time.Unix(1_800_003_600, 0)},
			"dev":  {Value: "dapi-dev"},
		},
	}
	f.audit = audit.New(10, log)
	f.tokens.audit = f.audit
	h := NewHandler(Config{Paths: f.paths, Tokens: f.tokens, Log: log, UID: 1000,
		ErrorStatus: func(error) int { return http.StatusServiceUnavailable },
		Now:         func() time.Time { return f.now },
	})
	f.srv = serveGuarded(t, h, tcpguard.Config{Name: "metadata service", UID: 1000, Log: log,
		Lookup: func(server, client netip.AddrPort) (tcppeer.Peer, error) {
			if !server.Addr().IsLoopback() || !client.Addr().IsLoopback() {
				t.Errorf("peer lookup got %s, %s", server, client)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.peer, f.peerEr
		}})
	return f
}

// serveGuarded serves h as NewServer does: behind tcpguard, with the
// refusal NewServer gives.
func serveGuarded(t *testing.T, h http.Handler, guard tcpguard.Config) *httptest.Server {
	t.Helper()
	guard.Refusal = tcpguard.HTTPRefusal("dbx-credd", guard.UID)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = tcpguard.Wrap(srv.Listener, guard)
	srv.Config.ConnContext = tcpguard.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func (f *fixture) setPeer(p tcppeer.Peer, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peer, f.peerEr = p, err
}

func (f *fixture) url(t *testing.T, profile string) string {
	t.Helper()
	s, err := f.paths.Secret(context.Background(), profile, false)
	if err != nil {
		t.Fatal(err)
	}
	return f.srv.URL + "/" + s
}

// get sends a request the way the SDKs do, with changes applied by mod.
func get(t *testing.T, url, host string, mod func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(VersionHeader, "1")
	req.Header.Set(HostHeader, host)
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %q", resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func TestServesTheToken(t *testing.T) {
	f := newFixture(t)
	url := f.url(t, "prod")
	// The host header is compared normalised: trailing slash, case.
	code, body := get(t, url, "https://ADB-1.azuredatabricks.net/", nil)
	if code != 200 || body["access_token"] != prodToken || body["token_type"] != "Bearer" {
		t.Fatalf("%d %v", code, body)
	}
	// expires_on is a JSON integer (Python rejects strings) and the real expiry.
	if n, ok := body["expires_on"].(float64); !ok || int64(n) != 1_800_003_600 {
		t.Fatalf("expires_on = %#v", body["expires_on"])
	}
	ev := f.audit.Recent(0)
	if len(ev) != 1 || ev[0].Profile != "prod" || ev[0].Channel != "metadata" || ev[0].PeerUID != 1000 || !ev[0].Expiry.Equal(time.Unix(1_800_003_600, 0)) {
		t.Fatalf("audit: %+v", ev)
	}
	if !strings.Contains(f.logs.String(), "token served") || strings.Contains(f.logs.String(), prodToken) ||
		strings.Contains(f.logs.String(), strings.TrimPrefix(url, f.srv.URL+"/")) {
		t.Fatalf("log: %s", f.logs)
	}
}

func TestStaticTokenGetsAFiniteHorizon(t *testing.T) {
	f := newFixture(t)
	code, body := get(t, f.url(t, "dev"), "https://dev.cloud.databricks.com", nil)
	if code != 200 || body["access_token"] != "dapi-dev" || int64(body["expires_on"].(float64)) != f.now.Add(NoExpiryHorizon).Unix() {
		t.Fatalf("%d %v", code, body)
	}
	if ev := f.audit.Recent(1)[0]; !ev.Expiry.IsZero() {
		t.Fatalf("the audit should record the real (no) expiry, got %v", ev.Expiry)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	url := f.url(t, "prod")
	sec := strings.TrimPrefix(url, f.srv.URL+"/")
	cases := []struct {
		name string
		url  string
		host string
		mod  func(*http.Request)
		want int
	}{
		{"no version header", url, prodHost, func(r *http.Request) { r.Header.Del(VersionHeader) }, 400},
		{"version 2", url, prodHost, func(r *http.Request) { r.Header.Set(VersionHeader, "2") }, 400},
		{"unknown path", f.srv.URL + "/" + strings.Repeat("A", len(sec)), prodHost, nil, 404},
		{"prefix of the path", url[:len(url)-1], prodHost, nil, 404},
		{"path plus more", url + "x", prodHost, nil, 404},
		{"root", f.srv.URL + "/", prodHost, nil, 404},
		{"other workspace", url, "https://evil.cloud.databricks.com", nil, 403},
		{"other profile's workspace", url, "https://dev.cloud.databricks.com", nil, 403},
		{"no workspace host", url, "", nil, 400},
		{"malformed workspace host", url, "ftp://x", nil, 400},
		{"DNS rebinding", url, prodHost, func(r *http.Request) { r.Host = "evil.example:8471" }, 421},
		{"POST", url, prodHost, func(r *http.Request) { r.Method = http.MethodPost }, 405},
	}
	for _, c := range cases {
		code, body := get(t, c.url, c.host, c.mod)
		if code != c.want || body["access_token"] != nil || body["message"] == "" {
			t.Errorf("%s: %d %v, want %d", c.name, code, body, c.want)
		}
	}
	if ev := f.audit.Recent(0); len(ev) != 0 {
		t.Fatalf("refused requests were audited as served: %+v", ev)
	}
	if strings.Contains(f.logs.String(), sec) || strings.Contains(f.logs.String(), prodToken) {
		t.Fatalf("secret in the log: %s", f.logs)
	}
	// localhost is as good as 127.0.0.1.
	if code, _ := get(t, url, prodHost, func(r *http.Request) { r.Host = "LOCALHOST:1" }); code != 200 {
		t.Fatalf("localhost Host header: %d", code)
	}
}

func TestOtherUsersAreRefused(t *testing.T) {
	f := newFixture(t)
	url := f.url(t, "prod")
	f.setPeer(tcppeer.Peer{UID: 1001}, nil)
	if code, body := get(t, url, prodHost, nil); code != 403 || !strings.Contains(body["message"].(string), "uid 1001") {
		t.Fatalf("other uid: %d %v", code, body)
	}
	// The uid check comes before the path check: a stranger learns nothing.
	if code, _ := get(t, f.srv.URL+"/nope", prodHost, nil); code != 403 {
		t.Fatalf("other uid, bad path: %d", code)
	}
	f.setPeer(tcppeer.Peer{}, errors.New("no such socket"))
	if code, _ := get(t, url, prodHost, nil); code != 403 {
		t.Fatalf("unknown peer must fail closed: %d", code)
	}
	// Where the OS cannot tell, only the path protects (documented).
	f.setPeer(tcppeer.Peer{}, tcppeer.ErrUnsupported)
	if code, _ := get(t, url, prodHost, nil); code != 200 {
		t.Fatalf("unsupported peer lookup: %d", code)
	}
	if !strings.Contains(f.logs.String(), "refused a connection from another user") {
		t.Fatalf("refusal not logged: %s", f.logs)
	}
}

// The real lookup (sock_diag): this test process is the caller.
func TestRealPeerCheck(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the uid check needs Linux (sock_diag)")
	}
	paths := NewPaths(store.NewMemory(), "inst", func() []string { return nil }, slog.New(slog.DiscardHandler))
	tokens := &fakeTokens{hosts: map[string]string{"prod": prodHost}, tokens: map[string]Token{"prod": {Value: prodToken}}}
	for _, c := range []struct {
		uid  int
		want int
	}{{os.Getuid(), 200}, {os.Getuid() + 1, 403}} {
		srv := serveGuarded(t, NewHandler(Config{Paths: paths, Tokens: tokens, Log: slog.New(slog.DiscardHandler), UID: c.uid}),
			tcpguard.Config{UID: c.uid})
		s, _ := paths.Secret(context.Background(), "prod", false)
		if code, _ := get(t, srv.URL+"/"+s, prodHost, nil); code != c.want {
			t.Errorf("daemon uid %d, caller uid %d: %d, want %d", c.uid, os.Getuid(), code, c.want)
		}
		srv.Close()
	}
}

func TestTokenErrors(t *testing.T) {
	f := newFixture(t)
	url := f.url(t, "prod")
	f.tokens.err = errors.New("the keyring is locked")
	if code, body := get(t, url, prodHost, nil); code != 503 || !strings.Contains(body["message"].(string), "locked") {
		t.Fatalf("%d %v", code, body)
	}
	f.tokens.err = nil
	delete(f.tokens.hosts, "prod") // logged out behind our back
	if code, _ := get(t, url, prodHost, nil); code != 404 {
		t.Fatalf("profile gone: %d", code)
	}
}

func TestRotateAndPersistence(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	log := slog.New(slog.DiscardHandler)
	names := func() []string { return []string{"prod", "dev"} }
	p := NewPaths(st, "inst", names, log)
	a, err := p.Secret(ctx, "prod", false)
	if err != nil || len(a) != 43 {
		t.Fatalf("secret %q, %v: want 43 base64url characters", a, err)
	}
	if again, _ := p.Secret(ctx, "prod", false); again != a {
		t.Fatal("the secret changed without rotate")
	}
	if stored, _ := st.Get(ctx, Key("inst", "prod")); stored != a {
		t.Fatalf("keyring holds %q", stored)
	}
	// A restarted daemon reads the same secret on the first request.
	p2 := NewPaths(st, "inst", names, log)
	if name, ok := p2.Lookup(ctx, a); !ok || name != "prod" {
		t.Fatalf("after restart: %q %v", name, ok)
	}
	if _, ok := p2.Lookup(ctx, ""); ok {
		t.Fatal("an empty path matched (dev has no secret)")
	}
	b, err := p2.Secret(ctx, "prod", true)
	if err != nil || b == a {
		t.Fatalf("rotate: %q %v", b, err)
	}
	if _, ok := p2.Match(a); ok {
		t.Fatal("the old secret still matches after rotate")
	}
	if err := p2.Forget(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if _, ok := p2.Match(b); ok {
		t.Fatal("a forgotten secret matches")
	}
	if _, err := st.Get(ctx, Key("inst", "prod")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("forget left the keyring item: %v", err)
	}
}

func TestMatchAmongMany(t *testing.T) {
	ctx := context.Background()
	p := NewPaths(store.NewMemory(), "inst", func() []string { return nil }, slog.New(slog.DiscardHandler))
	want := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		s, _ := p.Secret(ctx, n, false)
		want[s] = n
	}
	for s, n := range want {
		if got, ok := p.Match(s); !ok || got != n {
			t.Errorf("Match(%s's secret) = %q %v", n, got, ok)
		}
		flipped := []byte(s)
		flipped[len(flipped)-1] ^= 1
		if _, ok := p.Match(string(flipped)); ok {
			t.Errorf("a one-bit change of %s's secret matched", n)
		}
	}
}

// A locked keyring is retried, but not on every unknown path.
type flakyStore struct {
	store.Store
	fail bool
	gets int
}

func (s *flakyStore) Get(ctx context.Context, k string) (string, error) {
	s.gets++
	if s.fail {
		return "", &store.UnavailableError{Op: "read", Key: k, Reason: "locked", Err: errors.New("locked")}
	}
	return s.Store.Get(ctx, k)
}

func TestKeyringUnlockedLater(t *testing.T) {
	ctx := context.Background()
	mem := store.NewMemory()
	names := func() []string { return []string{"prod"} }
	sec, _ := NewPaths(mem, "inst", names, slog.New(slog.DiscardHandler)).Secret(ctx, "prod", false)
	fs := &flakyStore{Store: mem, fail: true}
	p := NewPaths(fs, "inst", names, slog.New(slog.DiscardHandler))
	// Asking for the URL while the keyring is locked must not mint a new one.
	if _, err := p.Secret(ctx, "prod", false); err == nil {
		t.Fatal("Secret replaced a secret it could not read")
	}
	fs.gets = 0
	for range 5 {
		if _, ok := p.Lookup(ctx, sec); ok {
			t.Fatal("matched with a locked keyring")
		}
	}
	if fs.gets != 1 {
		t.Fatalf("%d keyring reads for 5 requests, want 1 (then one per %s)", fs.gets, retryEvery)
	}
	fs.fail = false
	p.writeMu.Lock()
	p.lastFail = time.Now().Add(-retryEvery)
	p.writeMu.Unlock()
	if n, ok := p.Lookup(ctx, sec); !ok || n != "prod" {
		t.Fatal("the secret was not read after the keyring came back")
	}
	// Once read, unknown paths cost no keyring reads at all.
	fs.gets = 0
	p.Lookup(ctx, "nope")
	if fs.gets != 0 {
		t.Fatalf("%d keyring reads for an unknown path after everything was read", fs.gets)
	}
}

func TestParseListen(t *testing.T) {
	for in, want := range map[string]string{
		"": DefaultListen, "0": "127.0.0.1:0", "9000": "127.0.0.1:9000", "127.0.0.1:9000": "127.0.0.1:9000", "localhost:0": "127.0.0.1:0",
	} {
		if got, off, err := ParseListen(in); got != want || off || err != nil {
			t.Errorf("ParseListen(%q) = %q %v %v, want %q", in, got, off, err, want)
		}
	}
	if _, off, err := ParseListen("off"); !off || err != nil {
		t.Error("off")
	}
	for _, bad := range []string{"0.0.0.0:9000", "[::1]:9000", "example.com:1", "99999", "x"} {
		if _, _, err := ParseListen(bad); err == nil || !strings.Contains(err.Error(), ListenFlag) {
			t.Errorf("ParseListen(%q) = %v", bad, err)
		}
	}
}
