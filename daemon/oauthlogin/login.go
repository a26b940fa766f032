package oauthlogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/remotetext"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
)

// Defaults are the Databricks CLI's, so a workspace that allows the CLI's
// public client allows this login too.
const (
	DefaultClientID  = "databricks-cli"
	DefaultFirstPort = 8020
	DefaultLastPort  = 8040
	DefaultTimeout   = 5 * time.Minute

	// offlineAccess asks for the refresh token the daemon keeps.
	offlineAccess = "offline_access"

	// shutdownGrace lets the browser's last page finish sending after
	// the login has ended; the listener is closed at once regardless.
	shutdownGrace = 2 * time.Second

	// callbackMaxConns caps the callback's open connections: a browser
	// opens a few (the page, a favicon, a speculative one).
	callbackMaxConns = 16
	// callbackWriteTimeout covers the handler's code exchange (bounded by
	// the HTTP client's own timeout) and the page.
	callbackWriteTimeout = time.Minute
)

// Config is what Start needs; zero fields take the defaults above.
type Config struct {
	Endpoints Endpoints
	ClientID  string
	// Scopes default to offline_access and all-apis; offline_access is
	// added when missing.
	Scopes []string
	// FirstPort..LastPort is the callback port range (tests pass their own
	// to keep off the user's 8020).
	FirstPort, LastPort int
	// Timeout is how long the user has to come back from the browser.
	Timeout    time.Duration
	HTTPClient *http.Client
	// UID is the only user whose browser may come back (0: this
	// process's). Another local user can read the authorization URL, state
	// included, from the browser opener's argv (/proc/PID/cmdline) and
	// could otherwise deliver a code of their own workspace identity.
	UID int
	// Log gets the refused connections (rate-limited); default: discarded.
	Log *slog.Logger
}

// Scopes returns the scopes a login asks for: scopes, or the default, with
// offline_access always included (without it there is no refresh token
// to keep).
func Scopes(scopes []string) []string {
	if len(scopes) == 0 {
		return []string{offlineAccess, "all-apis"}
	}
	if slices.Contains(scopes, offlineAccess) {
		return slices.Clone(scopes)
	}
	return append([]string{offlineAccess}, scopes...)
}

// Login is one authorization-code login in progress. Its listener lives
// from Start until the login ends: success, failure, timeout, Close, or
// the end of Wait's context.
type Login struct {
	oauth    oauth2.Config
	verifier string
	state    string
	port     int
	authURL  string
	deadline time.Time
	timeout  time.Duration

	ctx    context.Context // ends when the login does; bounds the exchange
	cancel context.CancelFunc
	srv    *http.Server
	lns    []net.Listener
	ends   sync.Once

	claimMu sync.Mutex
	claimed bool        // a callback with the right state has been taken
	result  chan result // the claimed callback's outcome; buffered 1
}

type result struct {
	tok *oauth2.Token
	err error
}

// Start binds the callback listener and prepares the authorization URL.
// ctx bounds only the binding: the login itself lives until its own
// deadline, so a short request that starts it may end without ending it.
func Start(ctx context.Context, cfg Config) (*Login, error) {
	if cfg.Endpoints.AuthURL == "" || cfg.Endpoints.TokenURL == "" {
		return nil, errors.New("oauthlogin: Start needs the authorization and token endpoints (from Discover)")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.FirstPort == 0 && cfg.LastPort == 0 {
		cfg.FirstPort, cfg.LastPort = DefaultFirstPort, DefaultLastPort
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.UID == 0 {
		cfg.UID = os.Getuid()
	}
	lns, port, err := listen(ctx, cfg.FirstPort, cfg.LastPort)
	if err != nil {
		return nil, err
	}
	l := &Login{
		oauth: oauth2.Config{
			ClientID: cfg.ClientID,
			Scopes:   Scopes(cfg.Scopes),
			// Exactly what the Databricks CLI registers: a workspace
			// compares redirect URIs as strings.
			RedirectURL: "http://localhost:" + strconv.Itoa(port),
			Endpoint: oauth2.Endpoint{
				AuthURL: cfg.Endpoints.AuthURL, TokenURL: cfg.Endpoints.TokenURL,
				AuthStyle: oauth2.AuthStyleInParams, // a public client: id in the form, no secret
			},
		},
		verifier: oauth2.GenerateVerifier(),
		state:    randomState(),
		port:     port,
		timeout:  cfg.Timeout,
		deadline: time.Now().Add(cfg.Timeout),
		result:   make(chan result, 1),
	}
	l.authURL = l.oauth.AuthCodeURL(l.state, oauth2.S256ChallengeOption(l.verifier))
	base := context.WithoutCancel(ctx)
	if cfg.HTTPClient != nil {
		base = context.WithValue(base, oauth2.HTTPClient, cfg.HTTPClient)
	}
	l.ctx, l.cancel = context.WithDeadline(base, l.deadline)
	l.srv = &http.Server{
		Handler:     http.HandlerFunc(l.serveCallback),
		ConnContext: tcpguard.ConnContext,
		// A browser sends one small GET; nothing here waits on a client
		// for long, so idle and slow connections are cut short.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      callbackWriteTimeout,
		IdleTimeout:       5 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	l.lns = lns
	guard := tcpguard.Config{Name: "OAuth login callback", UID: cfg.UID, MaxConns: callbackMaxConns, Log: cfg.Log}
	for _, ln := range lns {
		g := tcpguard.Wrap(ln, guard)
		go func() { _ = l.srv.Serve(g) }()
	}
	// The listener must go when the login times out even if nobody waits.
	context.AfterFunc(l.ctx, l.end)
	return l, nil
}

// URL is the authorization URL the user opens. It carries the state and
// the PKCE challenge, neither of them a secret worth stealing alone, but
// it is the login: show it to the user, do not log it.
func (l *Login) URL() string { return l.authURL }

// Port is the localhost port the browser comes back to.
func (l *Login) Port() int { return l.port }

// Deadline is when the login gives up.
func (l *Login) Deadline() time.Time { return l.deadline }

// ClientID and Scopes are what the tokens were asked for with; a refresh
// must present the same client.
func (l *Login) ClientID() string { return l.oauth.ClientID }

// Scopes returns the scopes the login asks for.
func (l *Login) Scopes() []string { return slices.Clone(l.oauth.Scopes) }

// Wait waits for the browser to come back and returns the exchanged
// tokens. Whatever ends it, the listener is closed when it returns.
func (l *Login) Wait(ctx context.Context) (*oauth2.Token, error) {
	defer l.Close()
	select {
	case r := <-l.result:
		return r.tok, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("the login was interrupted before the browser came back: %w", context.Cause(ctx))
	case <-l.ctx.Done():
	}
	// A callback may have finished just as the login ended.
	select {
	case r := <-l.result:
		return r.tok, r.err
	default:
	}
	if errors.Is(l.ctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("no browser came back to http://localhost:%d within %s: log in again and open the new URL "+
			"(over ssh, forward the port first: ssh -L %d:localhost:%d): %w", l.port, l.timeout, l.port, l.port, context.DeadlineExceeded)
	}
	return nil, fmt.Errorf("the login was closed before the browser came back: %w", context.Canceled)
}

// Close ends the login and frees its port; it is safe to call more than
// once and returns once the listener is closed.
func (l *Login) Close() { l.end() }

func (l *Login) end() {
	l.ends.Do(func() {
		l.cancel()
		// Closed here as well as by Shutdown: a Serve goroutine not yet
		// running is unknown to Shutdown, and the port must be free when
		// Close returns.
		for _, ln := range l.lns {
			_ = ln.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		// Shutdown closes the listeners first, then lets a callback
		// still writing its page finish; Close cuts off the rest.
		_ = l.srv.Shutdown(ctx)
		_ = l.srv.Close()
	})
}

// serveCallback handles the browser's return. Only a request carrying
// this login's state can end it: anything else (a stray tab, a forged
// link, the favicon) gets 400 and the login keeps waiting.
func (l *Login) serveCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(l.state)) != 1 {
		page(w, http.StatusBadRequest, "This link does not belong to the dbx-cred login in progress",
			"Open the URL that dbx-cred printed, in full.")
		return
	}
	code, oauthErr := q.Get("code"), q.Get("error")
	if code == "" && oauthErr == "" {
		page(w, http.StatusBadRequest, "The sign-in answer is incomplete", "It carries neither a code nor an error. Open the URL that dbx-cred printed again.")
		return
	}
	if !l.claim() {
		page(w, http.StatusBadRequest, "This login has already finished", "You can close this tab.")
		return
	}
	res := l.complete(code, oauthErr, q.Get("error_description"))
	if res.err != nil {
		page(w, http.StatusOK, "Login failed", html.EscapeString(res.err.Error())+" You can close this tab.")
	} else {
		page(w, http.StatusOK, "Logged in", "dbx-cred has your login. You can close this tab.")
	}
	l.result <- res // buffered, and claim lets exactly one request here
}

// claim lets exactly one right-state callback decide the login, so a
// code is exchanged at most once.
func (l *Login) claim() bool {
	l.claimMu.Lock()
	defer l.claimMu.Unlock()
	if l.claimed {
		return false
	}
	l.claimed = true
	return true
}

func (l *Login) complete(code, oauthErr, description string) result {
	if oauthErr != "" {
		msg := oauthErr
		if description != "" {
			msg += ": " + description
		}
		return result{err: fmt.Errorf("%w: the workspace refused the login (%s); log in again, and allow access in the browser", ErrDenied, remotetext.Clip(msg))}
	}
	tok, err := l.oauth.Exchange(l.ctx, code, oauth2.VerifierOption(l.verifier))
	if err != nil {
		return result{err: exchangeError(l.ctx, l.oauth.Endpoint.TokenURL, err)}
	}
	if tok.RefreshToken == "" {
		return result{err: fmt.Errorf("%w: %s issued no refresh token (offline_access was not granted), so the login could not be kept; "+
			"ask the workspace admin to allow offline_access for the databricks-cli client", ErrDenied, l.oauth.Endpoint.TokenURL)}
	}
	return result{tok: tok}
}

// exchangeError says why the code could not be exchanged without quoting
// the request, which carries the code and verifier.
func exchangeError(ctx context.Context, tokenURL string, err error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re):
		what := re.ErrorCode
		if what == "" && re.Response != nil {
			what = re.Response.Status
		}
		if re.ErrorDescription != "" {
			what += ": " + re.ErrorDescription
		}
		return fmt.Errorf("%w: %s refused to exchange the authorization code (%s); log in again", ErrDenied, tokenURL, remotetext.Clip(what))
	case ctx.Err() != nil:
		return fmt.Errorf("the login ended while exchanging the authorization code: %w", ctx.Err())
	}
	return fmt.Errorf("%w: exchange the authorization code at %s: %v; check your network or proxy and log in again", ErrUnreachable, tokenURL, remotetext.Error(err))
}

func page(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>dbx-cred: %s</title><h1>%s</h1><p>%s</p>\n", title, title, body)
}

// listen binds the first port in first..last that is free on 127.0.0.1,
// and the same port on [::1] when this machine has IPv6 loopback, since
// browsers may resolve localhost to either. A port held by someone else
// on [::1] is skipped: the browser could land there instead of here.
func listen(ctx context.Context, first, last int) ([]net.Listener, int, error) {
	var lc net.ListenConfig
	var lastErr error
	for port := first; port <= last; port++ {
		p := strconv.Itoa(port)
		v4, err := lc.Listen(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
		if err != nil {
			lastErr = err
			continue
		}
		v6, err := lc.Listen(ctx, "tcp6", net.JoinHostPort("::1", p))
		switch {
		case err == nil:
			return []net.Listener{v4, v6}, port, nil
		case errors.Is(err, syscall.EADDRINUSE):
			v4.Close()
			lastErr = err
			continue
		}
		return []net.Listener{v4}, port, nil // no IPv6 loopback here
	}
	return nil, 0, fmt.Errorf("%w: every port from %d to %d on localhost is in use (last: %v); a previous login may still be running: "+
		"finish or interrupt it, or stop the program using port %d (lsof -nP -iTCP:%d -sTCP:LISTEN shows it), then log in again",
		ErrPortsBusy, first, last, lastErr, first, first)
}

func randomState() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
