package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/oauthlogin"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const alice = "alice@example.com"

// lockedBuffer collects the daemon's log so tests can look for secrets.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type oauthWorld struct {
	s     *Server
	emu   *wsemu.Emulator
	ws    *httptest.Server
	log   *lockedBuffer
	first int
	last  int

	m      *profiles.Manager
	logger *slog.Logger
	opt    core.OAuthOptions
	logins *oauthlogin.Registry
}

// newOAuthWorld serves an emulator with alice signed in to its browser and
// a Server whose callback ports are a free range of n.
func newOAuthWorld(t *testing.T, n int, opt core.OAuthOptions, emuOpts ...wsemu.Option) *oauthWorld {
	t.Helper()
	return newOAuthWorldAs(t, alice, n, opt, emuOpts...)
}

// newOAuthWorldAs is newOAuthWorld with signedIn ("" = nobody) in the
// emulator's browser.
func newOAuthWorldAs(t *testing.T, signedIn string, n int, opt core.OAuthOptions, emuOpts ...wsemu.Option) *oauthWorld {
	t.Helper()
	w := &oauthWorld{emu: wsemu.New(emuOpts...), log: &lockedBuffer{}}
	w.emu.AddUser(alice)
	if signedIn != "" {
		w.emu.AddOAuthUser(signedIn)
	}
	w.ws = httptest.NewServer(w.emu)
	t.Cleanup(w.ws.Close)
	log := slog.New(slog.NewTextHandler(w.log, nil))
	// The real workspace client, so SCIM Me (and account SCIM Me) answer
	// from the emulator for the tokens the login obtained.
	m, err := profiles.New(filepath.Join(t.TempDir(), "p.json"), store.NewMemory(), workspace.New(10*time.Second), profiles.Rotation{}, log)
	if err != nil {
		t.Fatal(err)
	}
	w.first, w.last = freePorts(t, n)
	opt.FirstPort, opt.LastPort = w.first, w.last
	w.m, w.logger, w.opt = m, log, opt
	w.s = w.server(t, store.NewMemory())
	return w
}

// server is the AgentService of the world, reading the CLI keyring cli.
func (w *oauthWorld) server(t *testing.T, cli store.Store) *Server {
	w.logins = core.NewLogins(w.opt, w.logger)
	return newServer(t, w.m, w.logger, func(c *core.Config) {
		c.Logins, c.CLIKeyring = w.logins, cli
	})
}

func (w *oauthWorld) begin(t *testing.T, profile string) *pb.BeginOAuthLoginResponse {
	t.Helper()
	resp, err := w.s.BeginOAuthLogin(t.Context(), &pb.BeginOAuthLoginRequest{Profile: profile, Host: w.ws.URL})
	if err != nil {
		t.Fatalf("BeginOAuthLogin: %v", err)
	}
	return resp
}

// awaited reports whether an Await call has taken the login.
func (w *oauthWorld) awaited(id string) bool {
	return w.logins.Awaited(id)
}

func freePorts(t *testing.T, n int) (int, int) {
	t.Helper()
	return porttest.Range(t, n, nil)
}

func waitPortFree(t *testing.T, port int32) {
	t.Helper()
	porttest.WaitFree(t, int(port))
}

// browse follows the authorize URL to the daemon's callback, as the
// user's browser does once they allow access.
func browse(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestOAuthLoginBeginAwait(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	resp := w.begin(t, "dev")
	if p := int(resp.GetCallbackPort()); p < w.first || p > w.last {
		t.Errorf("callback port %d outside %d-%d", p, w.first, w.last)
	}
	if d := time.Until(resp.GetDeadline().AsTime()); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("deadline in %s, want 5 minutes", d)
	}
	if !strings.HasPrefix(resp.GetAuthorizeUrl(), w.ws.URL+wsemu.PathOIDCAuthorize+"?") {
		t.Errorf("authorize URL %q", resp.GetAuthorizeUrl())
	}
	if body := browse(t, resp.GetAuthorizeUrl()); !strings.Contains(body, "close this tab") {
		t.Errorf("browser page %q", body)
	}
	out, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	// The flow is done either way: the code was exchanged once, the port
	// is free, and nothing secret reached the log.
	if s := w.emu.OAuthStats(); s.CodeExchanges != 1 {
		t.Errorf("emulator stats %+v, want one code exchange", s)
	}
	waitPortFree(t, resp.GetCallbackPort())
	u, _ := url.Parse(resp.GetAuthorizeUrl())
	if logged := w.log.String(); strings.Contains(logged, u.Query().Get("state")) || strings.Contains(logged, "code_challenge") {
		t.Errorf("the log carries the authorize URL:\n%s", logged)
	}
	if err != nil {
		t.Fatalf("AwaitOAuthLogin: %v", err)
	}
	p := out.GetProfile()
	if p.GetName() != "dev" || p.GetUserName() != alice || p.GetKind() != pb.CredentialKind_CREDENTIAL_KIND_OAUTH_U2M {
		t.Errorf("profile %+v", p)
	}
}

// The helper is interrupted (or goes away) while the browser is out: the
// login ends with the call and its port is free again.
func TestOAuthAwaitCancelled(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	resp := w.begin(t, "dev")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := w.s.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("Await with a cancelled context: %v", err)
	}
	waitPortFree(t, resp.GetCallbackPort())
	_, err = w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Await of a cancelled login: %v, want NotFound", err)
	}
}

// A helper that crashes between Begin and Await does not hold a port for
// five minutes.
func TestOAuthUnawaitedLoginCancelled(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{AwaitWithin: 100 * time.Millisecond})
	resp := w.begin(t, "dev")
	waitPortFree(t, resp.GetCallbackPort())
	time.Sleep(50 * time.Millisecond) // the registry entry goes with the port
	_, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "log in again") {
		t.Errorf("Await after the grace: %v, want NotFound", err)
	}
}

func TestOAuthLoginTimeout(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{Timeout: 150 * time.Millisecond})
	resp := w.begin(t, "dev")
	_, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Await past the deadline: %v", err)
	}
	waitPortFree(t, resp.GetCallbackPort())
}

func TestOAuthTooManyLogins(t *testing.T) {
	w := newOAuthWorld(t, oauthlogin.MaxLogins+2, core.OAuthOptions{})
	for i := range oauthlogin.MaxLogins {
		w.begin(t, "p"+strconv.Itoa(i))
	}
	_, err := w.s.BeginOAuthLogin(t.Context(), &pb.BeginOAuthLoginRequest{Profile: "extra", Host: w.ws.URL})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "interrupt one") {
		t.Fatalf("login past the limit: %v", err)
	}
}

func TestOAuthAwaitTwice(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	resp := w.begin(t, "dev")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := w.s.AwaitOAuthLogin(ctx, &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
		done <- err
	}()
	for !w.awaited(resp.GetLoginId()) {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.Aborted {
		t.Errorf("second Await: %v, want Aborted", err)
	}
	cancel()
	<-done
}

func TestOAuthUnknownLogin(t *testing.T) {
	w := newOAuthWorld(t, 1, core.OAuthOptions{})
	_, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("Await of an unknown login: %v", err)
	}
}

// The user declines (here: nobody is signed in to the emulator's browser):
// the login fails as a refused credential.
func TestOAuthLoginRefused(t *testing.T) {
	w := newOAuthWorldAs(t, "", 3, core.OAuthOptions{})
	resp := w.begin(t, "dev")
	browse(t, resp.GetAuthorizeUrl())
	_, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("refused login: %v", err)
	}
}

func TestOAuthBeginBadInput(t *testing.T) {
	w := newOAuthWorld(t, oauthlogin.MaxLogins, core.OAuthOptions{})
	notWS := httptest.NewServer(http.NotFoundHandler())
	defer notWS.Close()
	cases := []struct {
		name string
		req  *pb.BeginOAuthLoginRequest
		want string
	}{
		{"no profile", &pb.BeginOAuthLoginRequest{Host: w.ws.URL}, "profile name"},
		{"no host", &pb.BeginOAuthLoginRequest{Profile: "p"}, "--host"},
		{"cleartext", &pb.BeginOAuthLoginRequest{Profile: "p", Host: "http://ws.example.com"}, "--insecure-http"},
		{"account id", &pb.BeginOAuthLoginRequest{Profile: "p", Host: w.ws.URL, AccountId: "a/../b"}, "account id"},
		{"not a workspace", &pb.BeginOAuthLoginRequest{Profile: "p", Host: notWS.URL}, "Databricks workspace URL"},
	}
	for _, c := range cases {
		_, err := w.s.BeginOAuthLogin(t.Context(), c.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want InvalidArgument naming %q", c.name, err, c.want)
		}
	}
	// None of the refusals kept a place.
	for i := range oauthlogin.MaxLogins {
		w.begin(t, "p"+strconv.Itoa(i))
	}
}

func TestOAuthBeginAccountLevel(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{}, wsemu.WithAccountID("acc-1"))
	resp, err := w.s.BeginOAuthLogin(t.Context(), &pb.BeginOAuthLoginRequest{Profile: "acct", Host: w.ws.URL, AccountId: "acc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.GetAuthorizeUrl(), w.ws.URL+wsemu.AccountOIDCPath("acc-1", "authorize")+"?") {
		t.Errorf("authorize URL %q", resp.GetAuthorizeUrl())
	}
	browse(t, resp.GetAuthorizeUrl())
	_, err = w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()})
	if s := w.emu.OAuthStats(); s.CodeExchanges != 1 {
		t.Errorf("stats %+v", s)
	}
	if err != nil {
		t.Fatalf("AwaitOAuthLogin: %v", err)
	}
}

func TestImportOAuth(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	// Another tool's login, whose refresh token is then imported.
	ep, err := oauthlogin.Discover(t.Context(), nil, w.ws.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	first, last := freePorts(t, 2)
	l, err := oauthlogin.Start(t.Context(), oauthlogin.Config{Endpoints: ep, FirstPort: first, LastPort: last})
	if err != nil {
		t.Fatal(err)
	}
	browse(t, l.URL())
	tok, err := l.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	_, err = w.s.ImportOAuth(t.Context(), &pb.ImportOAuthRequest{Profile: "imp", Host: w.ws.URL, RefreshToken: " "})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty refresh token: %v", err)
	}
	out, err := w.s.ImportOAuth(t.Context(), &pb.ImportOAuthRequest{Profile: "imp", Host: w.ws.URL, RefreshToken: tok.RefreshToken})
	if strings.Contains(w.log.String(), tok.RefreshToken) || (err != nil && strings.Contains(err.Error(), tok.RefreshToken)) {
		t.Error("the refresh token reached the log or the error")
	}
	if err != nil {
		t.Fatalf("ImportOAuth: %v", err)
	}
	if out.GetProfile().GetUserName() != alice {
		t.Errorf("profile %+v", out.GetProfile())
	}
	if w.emu.RefreshTokenLive(tok.RefreshToken) {
		t.Error("the other tool's refresh token still works after the import")
	}
}

func TestOAuthCodes(t *testing.T) {
	cases := map[error]codes.Code{
		oauthlogin.ErrUnknownLogin:  codes.NotFound,
		oauthlogin.ErrTooManyLogins: codes.ResourceExhausted,
		oauthlogin.ErrLoginAwaited:  codes.Aborted,
		oauthlogin.ErrPortsBusy:     codes.ResourceExhausted,
		oauthlogin.ErrNotWorkspace:  codes.InvalidArgument,
		oauthlogin.ErrDenied:        codes.Unauthenticated,
		oauthlogin.ErrUnreachable:   codes.Unavailable,
	}
	for err, want := range cases {
		if got := codeOf(errors.Join(errors.New("x"), err)); got != want {
			t.Errorf("Code(%v) = %v, want %v", err, got, want)
		}
	}
}

// Discovery's revocation_endpoint reaches the profile, so logout revokes
// the login at the workspace (and without one, revokes nothing there).
func TestOAuthLogoutRevokes(t *testing.T) {
	for _, withRevocation := range []bool{true, false} {
		var opts []wsemu.Option
		if withRevocation {
			opts = append(opts, wsemu.WithOAuthRevocation())
		}
		w := newOAuthWorld(t, 3, core.OAuthOptions{}, opts...)
		resp := w.begin(t, "dev")
		browse(t, resp.GetAuthorizeUrl())
		if _, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()}); err != nil {
			t.Fatalf("AwaitOAuthLogin: %v", err)
		}
		out, err := w.s.Logout(t.Context(), &pb.LogoutRequest{Profile: "dev"})
		if err != nil {
			t.Fatalf("Logout: %v", err)
		}
		if got := w.emu.OAuthStats().Revocations; got != map[bool]int{true: 1, false: 0}[withRevocation] {
			t.Errorf("revocation endpoint %v: %d revocations at the workspace (logout said %v)", withRevocation, got, out.GetRevoked())
		}
	}
}

// ReportRejected finds an account-level profile by host and account id,
// as GetToken does: a report naming another account reaches no profile.
func TestReportRejectedUsesTheAccountID(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{}, wsemu.WithAccountID("acc-1"))
	resp, err := w.s.BeginOAuthLogin(t.Context(), &pb.BeginOAuthLoginRequest{Profile: "acct", Host: w.ws.URL, AccountId: "acc-1"})
	if err != nil {
		t.Fatal(err)
	}
	browse(t, resp.GetAuthorizeUrl())
	if _, err := w.s.AwaitOAuthLogin(t.Context(), &pb.AwaitOAuthLoginRequest{LoginId: resp.GetLoginId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.ReportRejected(t.Context(), &pb.ReportRejectedRequest{Host: w.ws.URL, AccountId: "acc-2", AccessToken: "x"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a report for another account: %v, want NotFound", err)
	}
	if _, err := w.s.ReportRejected(t.Context(), &pb.ReportRejectedRequest{Host: w.ws.URL, AccountId: "acc-1", AccessToken: "x"}); err != nil {
		t.Fatalf("a report for the profile's account: %v", err)
	}
}

// ImportOAuth takes a login the Databricks CLI keeps in the OS keyring:
// the first account that holds one is proven, stored, and its item
// deleted (its refresh token is superseded); none found is NotFound.
func TestImportOAuthFromTheCLIKeyring(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	cli := store.NewMemory()
	w.s = w.server(t, cli)
	_, rt := w.emu.IssueOAuthLogin(alice, "")
	if err := cli.Set(t.Context(), w.ws.URL, `{"token":{"access_token":"x","token_type":"Bearer","refresh_token":"`+rt+`","expiry":"2026-12-02T00:00:00Z"}}`); err != nil {
		t.Fatal(err)
	}
	_, err := w.s.ImportOAuth(t.Context(), &pb.ImportOAuthRequest{Profile: "dev", Host: w.ws.URL, CliKeyringKeys: []string{"dev"}})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("no item under dev: %v, want NotFound", err)
	}
	out, err := w.s.ImportOAuth(t.Context(), &pb.ImportOAuthRequest{Profile: "dev", Host: w.ws.URL, CliKeyringKeys: []string{"dev", w.ws.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if out.GetCliKeyringKey() != w.ws.URL || out.GetProfile().GetUserName() != alice || out.GetAdvice() != "" {
		t.Fatalf("%+v", out)
	}
	if _, err := cli.Get(t.Context(), w.ws.URL); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the CLI's item was not deleted: %v", err)
	}
	if w.emu.RefreshTokenLive(rt) {
		t.Fatal("the CLI's refresh token still works")
	}
	if strings.Contains(w.log.String(), rt) {
		t.Fatal("the refresh token reached the log")
	}
}

// An OS keyring that cannot be read (a headless machine) is no CLI login,
// not a failure: the import of other profiles goes on.
func TestImportOAuthCLIKeyringUnreadable(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	w.s = w.server(t, brokenStore{})
	_, err := w.s.ImportOAuth(t.Context(), &pb.ImportOAuthRequest{Profile: "dev", Host: w.ws.URL, CliKeyringKeys: []string{"dev"}})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("%v", err)
	}
}

type brokenStore struct{ store.Store }

func (brokenStore) Get(context.Context, string) (string, error) {
	return "", errors.New("no session bus")
}

// cancelOnDelete is a CLI keyring whose caller goes away just as the
// superseded item is deleted (the helper's deadline or Ctrl-C).
type cancelOnDelete struct {
	*store.Memory
	cancel context.CancelFunc
}

func (c cancelOnDelete) Delete(ctx context.Context, key string) error {
	c.cancel()
	return c.Memory.Delete(ctx, key)
}

// Once the login is stored, the CLI's item holds a superseded refresh
// token: deleting it must not depend on the caller still waiting, or the
// CLI presents it later and the workspace revokes the daemon's login.
func TestImportOAuthDeletesTheCLIItemEvenIfTheCallerGoes(t *testing.T) {
	w := newOAuthWorld(t, 3, core.OAuthOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cli := cancelOnDelete{store.NewMemory(), cancel}
	w.s = w.server(t, cli)
	_, rt := w.emu.IssueOAuthLogin(alice, "")
	if err := cli.Set(t.Context(), "dev", `{"token":{"refresh_token":"`+rt+`"}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.ImportOAuth(ctx, &pb.ImportOAuthRequest{Profile: "dev", Host: w.ws.URL, CliKeyringKeys: []string{"dev"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(t.Context(), "dev"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the CLI's item, whose refresh token is superseded, was left: %v", err)
	}
}
