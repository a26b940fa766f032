package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/oauth2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dbx-cred/dbx-cred/daemon/oauthlogin"
	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

const (
	// maxOAuthLogins bounds logins waiting for a browser: each holds a
	// localhost port from a range of 21, which other tools use too.
	maxOAuthLogins = 4
	// defaultAwaitWithin: a login whose helper never asks for its outcome
	// (it crashed between the two calls) gives its port back this soon
	// rather than after the full five minutes.
	defaultAwaitWithin = 30 * time.Second
	// oauthHTTPTimeout bounds each discovery and token request.
	oauthHTTPTimeout = 30 * time.Second
)

// Errors of the login registry; Code maps them.
var (
	errUnknownLogin  = errkind.New(errkind.NotFound, "no such OAuth login")
	errTooManyLogins = errkind.New(errkind.Busy, "too many OAuth logins in progress")
	errLoginAwaited  = errkind.New(errkind.Conflict, "OAuth login already awaited")
)

// OAuthOptions tune U2M logins; zero fields keep the defaults (ports
// 8020-8040, five minutes for the browser, 30 s for the helper to call
// AwaitOAuthLogin).
type OAuthOptions struct {
	FirstPort, LastPort int
	Timeout             time.Duration
	AwaitWithin         time.Duration
	HTTPClient          *http.Client
}

// WithOAuth replaces the U2M login settings (tests use their own ports).
func (s *Server) WithOAuth(o OAuthOptions) *Server {
	s.logins = newOAuthLogins(o)
	return s
}

// oauthLogins owns the logins between BeginOAuthLogin and the end of
// their AwaitOAuthLogin. It is the only place that knows them.
type oauthLogins struct {
	opt OAuthOptions

	mu       sync.Mutex
	byID     map[string]*pendingLogin
	starting int // Begin calls past the limit check, not yet registered
}

// pendingLogin is a started flow and what its Await needs to record it.
type pendingLogin struct {
	login     *oauthlogin.Login
	endpoints oauthlogin.Endpoints
	profile   string
	host      string
	opt       profiles.LoginOptions
	awaited   bool
	unclaimed *time.Timer // cancels the login when nobody awaits it
}

func newOAuthLogins(o OAuthOptions) *oauthLogins {
	if o.AwaitWithin <= 0 {
		o.AwaitWithin = defaultAwaitWithin
	}
	if o.HTTPClient == nil {
		o.HTTPClient = outbound.Client(oauthHTTPTimeout)
	}
	return &oauthLogins{opt: o, byID: map[string]*pendingLogin{}}
}

// reserve claims a place for a login about to start; unreserve or add
// gives it back.
func (o *oauthLogins) reserve() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.byID)+o.starting >= maxOAuthLogins {
		return fmt.Errorf("%w: %d logins are already waiting for a browser; finish or interrupt one (Ctrl-C where it runs), "+
			"or wait up to %s for an abandoned one to expire, then log in again", errTooManyLogins, maxOAuthLogins, o.timeout())
	}
	o.starting++
	return nil
}

func (o *oauthLogins) unreserve() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.starting--
}

// add registers p in the place reserve claimed and returns its id.
// abandoned runs when nobody awaits it in time, after it is closed.
func (o *oauthLogins) add(p *pendingLogin, abandoned func(id string)) string {
	id := randomID()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.starting--
	o.byID[id] = p
	p.unclaimed = time.AfterFunc(o.opt.AwaitWithin, func() {
		o.mu.Lock()
		own := o.byID[id] == p && !p.awaited
		if own {
			delete(o.byID, id)
		}
		o.mu.Unlock()
		if own {
			p.login.Close()
			abandoned(id)
		}
	})
	return id
}

// take hands the login to its one Await call.
func (o *oauthLogins) take(id string) (*pendingLogin, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.byID[id]
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w %q is waiting: it finished, was cancelled, or was not awaited within %s of starting; log in again",
			errUnknownLogin, id, o.opt.AwaitWithin)
	case p.awaited:
		return nil, fmt.Errorf("%w: login %q is being awaited by another call; only one may wait for it", errLoginAwaited, id)
	}
	p.awaited = true
	p.unclaimed.Stop()
	return p, nil
}

// drop forgets the login and frees its port.
func (o *oauthLogins) drop(id string, p *pendingLogin) {
	o.mu.Lock()
	if o.byID[id] == p {
		delete(o.byID, id)
	}
	o.mu.Unlock()
	p.login.Close()
}

func (o *oauthLogins) timeout() time.Duration {
	if o.opt.Timeout > 0 {
		return o.opt.Timeout
	}
	return oauthlogin.DefaultTimeout
}

// BeginOAuthLogin implements AgentService.
func (s *Server) BeginOAuthLogin(ctx context.Context, req *pb.BeginOAuthLoginRequest) (*pb.BeginOAuthLoginResponse, error) {
	const op = "begin oauth login"
	name, accountID := req.GetProfile(), req.GetAccountId()
	host, err := oauthTarget(name, req.GetHost(), accountID, req.GetInsecureHttp())
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	if err := s.logins.reserve(); err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	registered := false
	defer func() {
		if !registered {
			s.logins.unreserve()
		}
	}()
	opt := s.logins.opt
	ep, err := oauthlogin.Discover(ctx, opt.HTTPClient, host, accountID)
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	l, err := oauthlogin.Start(ctx, oauthlogin.Config{
		Endpoints: ep, Scopes: req.GetScopes(), FirstPort: opt.FirstPort, LastPort: opt.LastPort,
		Timeout: opt.Timeout, HTTPClient: opt.HTTPClient, Log: s.log,
	})
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	p := &pendingLogin{login: l, endpoints: ep, profile: name, host: host,
		opt: profiles.LoginOptions{AccountID: accountID, InsecureHTTP: req.GetInsecureHttp()}}
	id := s.logins.add(p, func(id string) {
		s.log.Info("OAuth login cancelled: nobody awaited it", "profile", name, "login_id", id, "after", opt.AwaitWithin)
	})
	registered = true
	// Not the URL: it is the login itself, for the user's browser only.
	s.log.Info("OAuth login begun", append([]any{"profile", name, "host", host, "account_id", accountID,
		"login_id", id, "callback_port", l.Port(), "deadline", l.Deadline()}, peerAttrs(ctx)...)...)
	return &pb.BeginOAuthLoginResponse{
		LoginId: id, AuthorizeUrl: l.URL(), CallbackPort: int32(l.Port()), Deadline: timestamppb.New(l.Deadline()),
	}, nil
}

// AwaitOAuthLogin implements AgentService. The login ends with this call:
// when the helper goes away first, its context ends, and so does the login.
func (s *Server) AwaitOAuthLogin(ctx context.Context, req *pb.AwaitOAuthLoginRequest) (*pb.AwaitOAuthLoginResponse, error) {
	const op = "await oauth login"
	id := req.GetLoginId()
	p, err := s.logins.take(id)
	if err != nil {
		return nil, s.fail(ctx, op, "", err)
	}
	defer s.logins.drop(id, p)
	tok, err := p.login.Wait(ctx)
	if err != nil {
		return nil, s.fail(ctx, op, p.profile, err)
	}
	prof, replaced, err := s.profiles.LoginU2M(ctx, p.profile, p.host, p.opt, profiles.U2MLogin{
		TokenURL: p.endpoints.TokenURL, RevocationURL: p.endpoints.RevocationURL,
		ClientID: p.login.ClientID(), Scopes: p.login.Scopes(), Token: tok,
	})
	if err != nil {
		return nil, s.fail(ctx, op, p.profile, err)
	}
	s.log.Info("OAuth login finished", append([]any{"profile", p.profile, "host", p.host, "account_id", p.opt.AccountID,
		"login_id", id, "user", prof.UserName, "replaced", replaced}, peerAttrs(ctx)...)...)
	return &pb.AwaitOAuthLoginResponse{Profile: toProto(prof), Replaced: replaced}, nil
}

// ImportOAuth implements AgentService.
func (s *Server) ImportOAuth(ctx context.Context, req *pb.ImportOAuthRequest) (*pb.ImportOAuthResponse, error) {
	const op = "import oauth"
	name, accountID := req.GetProfile(), req.GetAccountId()
	host, err := oauthTarget(name, req.GetHost(), accountID, req.GetInsecureHttp())
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	rt := strings.TrimSpace(req.GetRefreshToken())
	keyringKey := ""
	if rt == "" && len(req.GetCliKeyringKeys()) > 0 {
		if keyringKey, rt, err = s.cliKeyringLogin(ctx, req.GetCliKeyringKeys()); err != nil {
			return nil, s.fail(ctx, op, name, err)
		}
	}
	switch {
	case rt == "":
		return nil, s.fail(ctx, op, name, fmt.Errorf("%w: the refresh token is empty: import needs the refresh_token of the other tool's login", profiles.ErrBadInput))
	case strings.ContainsFunc(rt, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return nil, s.fail(ctx, op, name, fmt.Errorf("%w: the refresh token contains white space or control characters: pass only the token", profiles.ErrBadInput))
	}
	ep, err := oauthlogin.Discover(ctx, s.logins.opt.HTTPClient, host, accountID)
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	prof, replaced, err := s.profiles.LoginU2M(ctx, name, host,
		profiles.LoginOptions{AccountID: accountID, InsecureHTTP: req.GetInsecureHttp()},
		profiles.U2MLogin{
			TokenURL: ep.TokenURL, RevocationURL: ep.RevocationURL, ClientID: oauthlogin.DefaultClientID,
			Scopes: oauthlogin.Scopes(req.GetScopes()), Token: &oauth2.Token{RefreshToken: rt},
		})
	if err != nil {
		return nil, s.fail(ctx, op, name, err)
	}
	advice := ""
	if keyringKey != "" {
		// Its refresh token was superseded by the proving refresh: the CLI
		// presenting it again would make the workspace revoke the login.
		// Not cancelled with the request: the login is stored, and a
		// caller gone by now would never hear the item was left (the
		// keyring's own timeout still bounds the call).
		if err := s.cliKeyring.Delete(context.WithoutCancel(ctx), keyringKey); err != nil && !errors.Is(err, store.ErrNotFound) {
			advice = fmt.Sprintf("the Databricks CLI's keyring item %q (service %s) could not be deleted (%v): delete it yourself before the CLI uses it, "+
				"as its refresh token is superseded and presenting it would make the workspace revoke this login", keyringKey, CLIKeyringService, err)
			s.log.Warn("the Databricks CLI's keyring item of an imported login could not be deleted", "profile", name, "item", keyringKey, "err", err)
		}
	}
	s.log.Info("OAuth login imported", append([]any{"profile", name, "host", host, "account_id", accountID,
		"user", prof.UserName, "replaced", replaced, "from_cli_keyring", keyringKey != ""}, peerAttrs(ctx)...)...)
	return &pb.ImportOAuthResponse{Profile: toProto(prof), Replaced: replaced, CliKeyringKey: keyringKey, Advice: advice}, nil
}

// oauthTarget checks a U2M request's profile name, host and account id
// before anything goes on the network, and returns the normalised host.
func oauthTarget(name, host, accountID string, insecure bool) (string, error) {
	if err := profiles.ValidateName(name); err != nil {
		return "", err
	}
	host, err := hosturl.Normalize(host)
	if err != nil {
		return "", fmt.Errorf("%w: %v", profiles.ErrBadInput, err)
	}
	if err := hosturl.CheckTransport(host, insecure); err != nil {
		return "", fmt.Errorf("%w: %v", profiles.ErrBadInput, err)
	}
	for _, r := range accountID {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return "", fmt.Errorf("%w: the account id may hold only letters, digits and '-': pass the id shown in the account console", profiles.ErrBadInput)
		}
	}
	return host, nil
}

// randomID names a login. It need not be secret (only the daemon's uid
// reaches the socket), only unguessable enough never to collide.
func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
