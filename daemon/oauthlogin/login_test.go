package oauthlogin

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

const alice = "alice@example.com"

// startEmu serves an emulator with alice signed in to its "browser", so
// authorize approves at once.
func startEmu(t *testing.T, opts ...wsemu.Option) (*wsemu.Emulator, *httptest.Server) {
	t.Helper()
	emu := wsemu.New(opts...)
	emu.AddUser(alice)
	emu.AddOAuthUser(alice)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

// freePorts finds n consecutive ports free on 127.0.0.1 that the
// listener can also take on ::1 where it exists.
func freePorts(t *testing.T, n int) (first, last int) {
	t.Helper()
	return porttest.Range(t, n, func(first, last int) bool {
		lns, _, err := listen(t.Context(), first, last)
		for _, l := range lns {
			l.Close()
		}
		return err == nil && allFree(first, last)
	})
}

func allFree(first, last int) bool {
	for p := first; p <= last; p++ {
		if !porttest.Free(p) {
			return false
		}
	}
	return true
}

func portFree(p int) bool { return porttest.Free(p) }

func waitPortFree(t *testing.T, port int) {
	t.Helper()
	porttest.WaitFree(t, port)
}

// browse is the test's browser: it follows authorize's redirect to the
// callback, as a browser does after the user clicks "allow".
func browse(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func startLogin(t *testing.T, base string, cfg Config) *Login {
	t.Helper()
	if cfg.Endpoints.AuthURL == "" {
		ep, err := Discover(t.Context(), nil, base, "")
		if err != nil {
			t.Fatalf("Discover: %v", err)
		}
		cfg.Endpoints = ep
	}
	if cfg.FirstPort == 0 {
		cfg.FirstPort, cfg.LastPort = freePorts(t, 3)
	}
	l, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

func TestLoginWithBrowser(t *testing.T) {
	emu, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	u, _ := url.Parse(l.URL())
	q := u.Query()
	if q.Get("redirect_uri") != "http://localhost:"+strconv.Itoa(l.Port()) || q.Get("client_id") != DefaultClientID ||
		q.Get("code_challenge_method") != "S256" || q.Get("scope") != "offline_access all-apis" {
		t.Errorf("authorize URL query %v", q)
	}
	status, body := browse(t, l.URL())
	if status != http.StatusOK || !strings.Contains(body, "close this tab") {
		t.Errorf("browser got %d %q", status, body)
	}
	tok, err := l.Wait(t.Context())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if tok.AccessToken == "" || !emu.RefreshTokenLive(tok.RefreshToken) {
		t.Errorf("token %+v: want an access token and a live refresh token", tok)
	}
	if s := emu.OAuthStats(); s.CodeExchanges != 1 {
		t.Errorf("stats %+v, want one code exchange", s)
	}
	waitPortFree(t, l.Port())
}

func TestPortFallback(t *testing.T) {
	_, srv := startEmu(t)
	first, last := freePorts(t, 3)
	busy, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l := startLogin(t, srv.URL, Config{FirstPort: first, LastPort: last})
	if l.Port() != first+1 {
		t.Fatalf("port %d, want %d (the first is taken)", l.Port(), first+1)
	}
	browse(t, l.URL())
	if _, err := l.Wait(t.Context()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

func TestAllPortsBusy(t *testing.T) {
	_, srv := startEmu(t)
	first, _ := freePorts(t, 1)
	busy, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ep, _ := Discover(t.Context(), nil, srv.URL, "")
	_, err = Start(t.Context(), Config{Endpoints: ep, FirstPort: first, LastPort: first})
	if !errors.Is(err, ErrPortsBusy) || !strings.Contains(err.Error(), strconv.Itoa(first)) || !strings.Contains(err.Error(), "previous login") {
		t.Fatalf("Start with every port taken: %v", err)
	}
}

// A request without the login's state must not end it: the user's real
// callback still succeeds afterwards.
func TestWrongStateIgnored(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	cb := "http://127.0.0.1:" + strconv.Itoa(l.Port()) + "/"
	for _, q := range []string{"?code=forged&state=wrong", "?code=forged", "?error=access_denied&state=nope"} {
		if status, _ := browse(t, cb+q); status != http.StatusBadRequest {
			t.Errorf("callback %s: status %d, want 400", q, status)
		}
	}
	if status, _ := browse(t, l.URL()); status != http.StatusOK {
		t.Errorf("real callback: status %d", status)
	}
	if _, err := l.Wait(t.Context()); err != nil {
		t.Fatalf("Wait after forged callbacks: %v", err)
	}
}

func TestErrorCallback(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	u, _ := url.Parse(l.URL())
	cb := "http://127.0.0.1:" + strconv.Itoa(l.Port()) + "/?" + url.Values{
		"error": {"access_denied"}, "error_description": {"The user said <no>"}, "state": {u.Query().Get("state")},
	}.Encode()
	status, body := browse(t, cb)
	if status != http.StatusOK || !strings.Contains(body, "Login failed") || strings.Contains(body, "<no>") {
		t.Errorf("browser got %d %q (want the failure, escaped)", status, body)
	}
	_, err := l.Wait(t.Context())
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "The user said <no>") {
		t.Fatalf("Wait: %v", err)
	}
	waitPortFree(t, l.Port())
}

// With nobody signed in, the emulator's authorize redirects with
// error=access_denied: the flow's own error path end to end.
func TestAuthorizeRefused(t *testing.T) {
	srv := httptest.NewServer(wsemu.New())
	t.Cleanup(srv.Close)
	l := startLogin(t, srv.URL, Config{})
	browse(t, l.URL())
	if _, err := l.Wait(t.Context()); !errors.Is(err, ErrDenied) {
		t.Fatalf("Wait: %v, want ErrDenied", err)
	}
}

func TestTimeoutClosesListener(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{Timeout: 200 * time.Millisecond})
	_, err := l.Wait(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "ssh -L") {
		t.Fatalf("Wait: %v", err)
	}
	waitPortFree(t, l.Port())
}

// Nobody waits: the listener still goes at the deadline.
func TestTimeoutWithoutWait(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{Timeout: 100 * time.Millisecond})
	waitPortFree(t, l.Port())
}

func TestCancelClosesListener(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
	waitPortFree(t, l.Port())
	// The URL is dead too: a browser arriving late cannot reach anyone.
	if _, err := http.Get("http://127.0.0.1:" + strconv.Itoa(l.Port()) + "/"); err == nil {
		t.Error("callback still answers after cancel")
	}
}

func TestCloseFreesPort(t *testing.T) {
	_, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	l.Close()
	if !portFree(l.Port()) {
		t.Fatal("port still bound after Close returned")
	}
	l.Close()
	if _, err := l.Wait(t.Context()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after Close: %v", err)
	}
}

func TestAccountLevel(t *testing.T) {
	emu, srv := startEmu(t, wsemu.WithAccountID("acc-1"))
	ep, err := Discover(t.Context(), nil, srv.URL, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if ep.AuthURL != srv.URL+wsemu.AccountOIDCPath("acc-1", "authorize") || ep.TokenURL != srv.URL+wsemu.AccountOIDCPath("acc-1", "token") || ep.RevocationURL != "" {
		t.Fatalf("account endpoints %+v", ep)
	}
	if n := emu.Requests(http.MethodGet, wsemu.PathOIDCDiscovery); n != 0 {
		t.Errorf("account level fetched discovery %d times; it has none", n)
	}
	l := startLogin(t, srv.URL, Config{Endpoints: ep})
	browse(t, l.URL())
	tok, err := l.Wait(t.Context())
	if err != nil || !emu.RefreshTokenLive(tok.RefreshToken) {
		t.Fatalf("account-level login: %v", err)
	}
}

func TestDiscover(t *testing.T) {
	_, srv := startEmu(t)
	ep, err := Discover(t.Context(), nil, srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if ep.AuthURL != srv.URL+wsemu.PathOIDCAuthorize || ep.TokenURL != srv.URL+wsemu.PathOIDCToken || ep.RevocationURL != "" {
		t.Errorf("endpoints %+v", ep)
	}
	_, rev := startEmu(t, wsemu.WithOAuthRevocation())
	if ep, err := Discover(t.Context(), nil, rev.URL, ""); err != nil || ep.RevocationURL != rev.URL+"/oidc/v1/revoke" {
		t.Errorf("with revocation: %+v, %v", ep, err)
	}
}

func TestDiscoverNotAWorkspace(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"404": http.NotFound,
		"html": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>")
		},
		"garbage": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[1,")
		},
		"no fields": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"issuer":"x"}`)
		},
		"cleartext elsewhere": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"authorization_endpoint":"http://evil.example/a","token_endpoint":"http://evil.example/t"}`)
		},
	}
	for name, h := range cases {
		srv := httptest.NewServer(h)
		_, err := Discover(t.Context(), nil, srv.URL, "")
		srv.Close()
		if !errors.Is(err, ErrNotWorkspace) || !strings.Contains(err.Error(), "Databricks workspace URL") {
			t.Errorf("%s: %v", name, err)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	if _, err := Discover(t.Context(), nil, srv.URL, ""); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v", err)
	}
}

func TestScopes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "offline_access all-apis"},
		{"sql", "offline_access sql"},
		{"all-apis offline_access", "all-apis offline_access"},
	}
	for _, c := range cases {
		if got := strings.Join(Scopes(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("Scopes(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// Another local user can read the authorization URL, state included, from
// the browser opener's argv. Knowing it, they deliver a code of their own
// (here: they follow the authorize redirect themselves) to the callback:
// the connection is closed before the state is even read, no code is
// exchanged, and the user's own browser then completes the login. Idle
// connections of that user are closed at once too.
func TestCallbackRefusesAnotherUserWhoKnowsTheState(t *testing.T) {
	other := porttest.NewAsUID(t, 65534)
	emu, srv := startEmu(t)
	l := startLogin(t, srv.URL, Config{})
	attacker := &http.Client{Transport: &http.Transport{
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) { return other.Dial(network, addr) },
	}}
	resp, err := attacker.Get(l.URL())
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("another uid's callback was answered: %d %q", resp.StatusCode, body)
	}
	for _, addr := range []string{"127.0.0.1", "[::1]"} {
		var idle []net.Conn
		for range 20 {
			c, err := other.Dial("tcp", addr+":"+strconv.Itoa(l.Port()))
			if err != nil {
				break // no IPv6 loopback here
			}
			defer c.Close()
			idle = append(idle, c)
		}
		for _, c := range idle {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("an idle connection of another uid on %s was kept open (%v)", addr, err)
			}
		}
	}
	if s := emu.OAuthStats(); s.CodeExchanges != 0 {
		t.Fatalf("%d codes exchanged after another uid's callback", s.CodeExchanges)
	}
	if status, body := browse(t, l.URL()); status != http.StatusOK {
		t.Fatalf("the user's own callback: %d %q", status, body)
	}
	if _, err := l.Wait(t.Context()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if s := emu.OAuthStats(); s.CodeExchanges != 1 {
		t.Fatalf("stats %+v, want the user's one code exchange", s)
	}
}
