package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/oauthlogin"
	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
)

// oauthHTTPTimeout bounds each discovery and token request.
const oauthHTTPTimeout = 30 * time.Second

// OAuthOptions tune U2M logins; zero fields keep the defaults (ports
// 8020-8040, five minutes for the browser, 30 s for the helper to call
// AwaitOAuth).
type OAuthOptions struct {
	FirstPort, LastPort int
	Timeout             time.Duration
	AwaitWithin         time.Duration
	HTTPClient          *http.Client
}

// NewLogins is the registry of U2M logins in progress, for Config.Logins.
func NewLogins(o OAuthOptions, log *slog.Logger) *oauthlogin.Registry {
	if o.HTTPClient == nil {
		o.HTTPClient = outbound.Client(oauthHTTPTimeout)
	}
	return oauthlogin.NewRegistry(oauthlogin.RegistryConfig{FirstPort: o.FirstPort, LastPort: o.LastPort,
		Timeout: o.Timeout, AwaitWithin: o.AwaitWithin, HTTPClient: o.HTTPClient, Log: log})
}

// OAuthTarget is the profile a U2M login or import is for.
type OAuthTarget struct {
	Profile, Host, AccountID string
	Insecure                 bool // allow http:// to a host that is not loopback
	Scopes                   []string
}

// OAuthBegun is a U2M login waiting for the user's browser.
type OAuthBegun struct {
	ID           string
	AuthorizeURL string
	CallbackPort int
	Deadline     time.Time
}

// BeginOAuth starts a U2M login: the user opens AuthorizeURL, and the
// helper calls AwaitOAuth with ID.
func (s *Service) BeginOAuth(ctx context.Context, t OAuthTarget) (OAuthBegun, error) {
	const op = "begin oauth login"
	host, err := oauthTarget(t.Profile, t.Host, t.AccountID, t.Insecure)
	if err != nil {
		return OAuthBegun{}, s.fail(ctx, op, t.Profile, err)
	}
	id, p, err := s.logins.Begin(ctx, oauthlogin.Target{Profile: t.Profile, Host: host, AccountID: t.AccountID,
		Insecure: t.Insecure, Scopes: t.Scopes})
	if err != nil {
		return OAuthBegun{}, s.fail(ctx, op, t.Profile, err)
	}
	l := p.Login
	// Not the URL: it is the login itself, for the user's browser only.
	s.log.Info("OAuth login begun", append([]any{"profile", t.Profile, "host", host, "account_id", t.AccountID,
		"login_id", id, "callback_port", l.Port(), "deadline", l.Deadline()}, peerAttrs(ctx)...)...)
	return OAuthBegun{ID: id, AuthorizeURL: l.URL(), CallbackPort: l.Port(), Deadline: l.Deadline()}, nil
}

// AwaitOAuth waits for the login id to finish and stores it. The login ends
// with this call: when the caller goes away first, ctx ends, and so does
// the login.
func (s *Service) AwaitOAuth(ctx context.Context, id string) (LoginResult, error) {
	const op = "await oauth login"
	p, err := s.logins.Take(id)
	if err != nil {
		return LoginResult{}, s.fail(ctx, op, "", err)
	}
	defer s.logins.Drop(id, p)
	tok, err := p.Login.Wait(ctx)
	if err != nil {
		return LoginResult{}, s.fail(ctx, op, p.Profile, err)
	}
	opt := profiles.LoginOptions{AccountID: p.AccountID, InsecureHTTP: p.Insecure}
	prof, replaced, err := s.profiles.LoginU2M(ctx, p.Profile, p.Host, opt, profiles.U2MLogin{
		TokenURL: p.Endpoints.TokenURL, RevocationURL: p.Endpoints.RevocationURL,
		ClientID: p.Login.ClientID(), Scopes: p.Login.Scopes(), Token: tok,
	})
	if err != nil {
		return LoginResult{}, s.fail(ctx, op, p.Profile, err)
	}
	s.log.Info("OAuth login finished", append([]any{"profile", p.Profile, "host", p.Host, "account_id", p.AccountID,
		"login_id", id, "user", prof.UserName, "replaced", replaced}, peerAttrs(ctx)...)...)
	return LoginResult{Profile: prof, Replaced: replaced}, nil
}

// ImportRequest takes over another tool's U2M login: its RefreshToken, or
// the first of CLIKeyringKeys the Databricks CLI keeps one under.
type ImportRequest struct {
	OAuthTarget
	RefreshToken   string
	CLIKeyringKeys []string
}

// ImportResult is an imported login.
type ImportResult struct {
	LoginResult
	// CLIKeyringKey is the CLI keyring item the login came from, if any.
	CLIKeyringKey string
	Advice        string
}

// ImportOAuth proves the refresh token with one refresh and stores it.
func (s *Service) ImportOAuth(ctx context.Context, req ImportRequest) (ImportResult, error) {
	const op = "import oauth"
	name, accountID := req.Profile, req.AccountID
	host, err := oauthTarget(name, req.Host, accountID, req.Insecure)
	if err != nil {
		return ImportResult{}, s.fail(ctx, op, name, err)
	}
	rt := strings.TrimSpace(req.RefreshToken)
	keyringKey := ""
	if rt == "" && len(req.CLIKeyringKeys) > 0 {
		if keyringKey, rt, err = s.cliKeyringLogin(ctx, req.CLIKeyringKeys); err != nil {
			return ImportResult{}, s.fail(ctx, op, name, err)
		}
	}
	switch {
	case rt == "":
		return ImportResult{}, s.fail(ctx, op, name, fmt.Errorf("%w: the refresh token is empty: import needs the refresh_token of the other tool's login", profiles.ErrBadInput))
	case strings.ContainsFunc(rt, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return ImportResult{}, s.fail(ctx, op, name, fmt.Errorf("%w: the refresh token contains white space or control characters: pass only the token", profiles.ErrBadInput))
	}
	ep, err := oauthlogin.Discover(ctx, s.logins.HTTPClient(), host, accountID)
	if err != nil {
		return ImportResult{}, s.fail(ctx, op, name, err)
	}
	prof, replaced, err := s.profiles.LoginU2M(ctx, name, host,
		profiles.LoginOptions{AccountID: accountID, InsecureHTTP: req.Insecure},
		profiles.U2MLogin{
			TokenURL: ep.TokenURL, RevocationURL: ep.RevocationURL, ClientID: oauthlogin.DefaultClientID,
			Scopes: oauthlogin.Scopes(req.Scopes), Token: &oauth2.Token{RefreshToken: rt},
		})
	if err != nil {
		return ImportResult{}, s.fail(ctx, op, name, err)
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
	return ImportResult{LoginResult: LoginResult{Profile: prof, Replaced: replaced}, CLIKeyringKey: keyringKey, Advice: advice}, nil
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
