package profiles

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/idtoken"
	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// federatedCredential is workload identity federation: nothing is stored.
// Each exchange asks the profile's ID token source (a CI system, a file)
// for a fresh JWT and exchanges it (RFC 8693) for an access token.
type federatedCredential struct{ oauthCredential }

func (federatedCredential) kind() string   { return KindOIDCFederation }
func (federatedCredential) served() string { return "oidc-federation" }

func (federatedCredential) loginCommand(p registry.Profile) string {
	cmd := fmt.Sprintf("dbx-cred login -p %s --host %s --federated %s", p.Name, p.Host, p.Federated)
	if p.AccountID != "" {
		cmd += " --account-id " + p.AccountID
	}
	if p.ClientID != "" {
		cmd += " --client-id " + p.ClientID
	}
	if p.Audience != "" {
		cmd += " --audience " + p.Audience
	}
	return cmd
}

// registryRoot is the source: no secret, all the credential there is.
func (federatedCredential) registryRoot(p registry.Profile) string { return p.Federated }

func (federatedCredential) fromStore(registry.Profile, secret) (string, *tokensource.Grant, string) {
	return "", nil, "" // never called: registryRoot
}

func (federatedCredential) start(_ context.Context, o *owner, p registry.Profile, _ string, _ *tokensource.Grant, _ tokensource.Token) (tokensource.TokenSource, tokensource.Lifecycle) {
	src, err := o.env.newFederated(p)
	if err != nil {
		// The registry entry was valid at login; a source that no longer
		// parses serves its error to every caller.
		return renewing(failedSource{err: err})
	}
	return renewing(src)
}

func (federatedCredential) narrow(name string) error {
	return errNoScopes("profile %q is federated (OIDC token exchange), whose access tokens dbx-cred does not narrow to scopes: leave out --scope", name)
}

func (federatedCredential) rotatable(p registry.Profile) error {
	return errNoScopes("profile %q is federated: nothing is stored, so there is nothing to rotate; each token comes from a fresh ID token from %s", p.Name, p.Federated)
}

func (federatedCredential) loginNeeded(registry.Profile, error) string { return "" }

func (federatedCredential) revokeUnused(context.Context, *env, registry.Profile, string, *tokensource.Grant) ([]string, error) {
	return nil, nil
}

func (federatedCredential) logoutAdvice(registry.Profile, []string) string {
	return "nothing was stored and nothing is left to revoke: the access tokens served expire on their own."
}

// federatedSource is the exchange source, with messages that say what a
// refusal or an expired ID token means, in the JWT's claims (never the
// token).
type federatedSource struct {
	*tokensource.ClientCredentials
	from idtoken.Source

	mu     sync.Mutex
	claims idtoken.Claims // of the last ID token exchanged
}

// Token implements tokensource.Source.
func (s *federatedSource) Token(ctx context.Context) (tokensource.Token, error) {
	t, err := s.ClientCredentials.Token(ctx)
	if errors.Is(err, tokensource.ErrExchangeRefused) {
		s.mu.Lock()
		c := s.claims
		s.mu.Unlock()
		return t, fmt.Errorf("%w. The ID token from %s has %s: the federation policy must name that issuer and subject, and one of those audiences "+
			"(or log in again with --audience as the policy says)", err, s.from, c)
	}
	return t, err
}

// newFederated builds a federated profile's source: the token endpoint,
// the audience the Go SDK would ask for (the endpoint, or the account id
// at account level), and a fresh ID token for each exchange.
func (e *env) newFederated(p registry.Profile) (*federatedSource, error) {
	from, err := idtoken.Parse(p.Federated, e.rot.Getenv, outbound.Client(30*time.Second))
	if err != nil {
		return nil, badInput("%v", err)
	}
	tokenURL := p.Host + "/oidc/v1/token"
	audience := tokenURL
	if p.AccountID != "" {
		tokenURL = p.Host + "/oidc/accounts/" + p.AccountID + "/v1/token"
		audience = p.AccountID
	}
	if p.Audience != "" {
		audience = p.Audience
	}
	s := &federatedSource{from: from}
	s.ClientCredentials = tokensource.NewClientCredentials(tokensource.ClientCredentialsConfig{
		TokenURL: tokenURL, ClientID: p.ClientID, Clock: e.rot.Clock,
		Exchange: func(ctx context.Context) (url.Values, error) {
			jwt, err := from.IDToken(ctx, audience)
			if err != nil {
				return nil, err
			}
			c, err := idtoken.Read(jwt)
			if err != nil {
				return nil, fmt.Errorf("the ID token from %s: %v", from, err)
			}
			if !c.Expiry.IsZero() && !time.Now().Before(c.Expiry) {
				return nil, fmt.Errorf("%w: the ID token from %s expired at %s (%s): the source must hand out a fresh one (a projected token file is renewed by the kubelet; a variable is read as it is)",
					errIDTokenExpired, from, c.Expiry.UTC().Format(time.RFC3339), c)
			}
			s.mu.Lock()
			s.claims = c
			s.mu.Unlock()
			return url.Values{
				"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
				"subject_token":      {jwt},
			}, nil
		},
	})
	return s, nil
}

// errIDTokenExpired marks an ID token past its exp: the source's to fix.
var errIDTokenExpired = errors.New("expired ID token")

// failedSource serves one error: a federated profile whose source no
// longer parses.
type failedSource struct{ err error }

func (f failedSource) Token(context.Context) (tokensource.Token, error) {
	return tokensource.Token{}, f.err
}
func (failedSource) Refresh(string, time.Duration) bool       { return false }
func (f failedSource) Status() tokensource.Status             { return tokensource.Status{LastError: f.err} }
func (failedSource) Held() map[string]bool                    { return nil }
func (failedSource) Stop()                                    {}
func (failedSource) Revoke(context.Context) ([]string, error) { return nil, nil }

// loginFederated checks the source with a first exchange and SCIM Me, then
// records the profile, storing nothing. Login has checked name and host.
func (m *Manager) loginFederated(ctx context.Context, name, host string, opt LoginOptions) (Profile, bool, error) {
	if !validAccountID(opt.AccountID) {
		return Profile{}, false, badInput("the account id may hold only letters, digits and '-': pass the id shown in the account console")
	}
	if opt.Adopt || opt.NoAutoRotate || opt.Static {
		return Profile{}, false, badInput("--adopt, --no-auto-rotate and --static are for personal access tokens; a federated profile stores nothing: leave them out")
	}
	if strings.ContainsAny(opt.ClientID+opt.Audience, " \t\n") {
		return Profile{}, false, badInput("--client-id and --audience take one word each")
	}
	if opt.Audience == "" && opt.AccountID == "" {
		// As the Go SDK: a workspace may publish the audience its
		// federation policies expect; else the token endpoint's URL.
		opt.Audience = workspace.PublishedAudience(ctx, host)
	}
	meta := registry.Profile{Name: name, Host: host, Kind: KindOIDCFederation, ClientID: opt.ClientID, AccountID: opt.AccountID,
		Federated: opt.Federated, Audience: opt.Audience, Created: time.Now().UTC().Truncate(time.Second),
		SecretKey: newSecretKey(name), LoginID: randomHex(4), Store: m.currentStore()}
	src, err := m.env.newFederated(meta)
	if err != nil {
		return Profile{}, false, err
	}
	t, err := src.Token(ctx)
	if err != nil {
		src.Stop()
		if errors.Is(err, idtoken.ErrUnavailable) {
			return Profile{}, false, badInput("%v (nothing was recorded)", err)
		}
		if errors.Is(err, tokensource.ErrExchangeRefused) || errors.Is(err, errIDTokenExpired) {
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s refused the exchange, so nothing was recorded: %v", host, err)}
		}
		return Profile{}, false, fmt.Errorf("exchange an ID token from %s at %s (nothing was recorded): %w", opt.Federated, host, err)
	}
	var user workspace.User
	if opt.AccountID != "" {
		av, ok := m.validator.(AccountValidator)
		if !ok {
			src.Stop()
			return Profile{}, false, badInput("this daemon cannot validate account-level logins")
		}
		user, err = av.AccountMe(ctx, host, opt.AccountID, t.Value)
	} else {
		user, err = m.validator.Me(ctx, host, t.Value)
	}
	if err != nil {
		src.Stop()
		return Profile{}, false, fmt.Errorf("validate the exchanged token against %s (nothing was recorded): %w", host, err)
	}
	meta.UserName = user.UserName
	return m.record(ctx, meta, "", func(o *owner) {
		o.mu.Lock()
		o.root = meta.Federated
		o.mu.Unlock()
		o.install(renewing(src))
	}, func() { src.Stop() })
}
