package profiles

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// m2mCredential is a service principal's OAuth client secret: clients get
// access tokens from the client_credentials grant.
type m2mCredential struct{ oauthCredential }

func (m2mCredential) kind() string   { return KindOAuthM2M }
func (m2mCredential) served() string { return "oauth-m2m" }

// oauthCredential is what both OAuth kinds share: their access tokens
// always renew (no static or rotating mode), they mint no PATs, and their
// secret (a client secret, a refresh token) is no bearer token and must
// never be sent as one.
type oauthCredential struct{}

func (oauthCredential) mode() string                      { return "" }
func (oauthCredential) mints() bool                       { return false }
func (oauthCredential) bearerRoot() bool                  { return false }
func (oauthCredential) autoRotated(registry.Profile) bool { return false }

func (m2mCredential) loginCommand(p registry.Profile) string {
	if p.AccountID != "" {
		return fmt.Sprintf("dbx-cred login -p %s --host %s --account-id %s --client-id %s", p.Name, p.Host, p.AccountID, p.ClientID)
	}
	return fmt.Sprintf("dbx-cred login -p %s --host %s --client-id %s", p.Name, p.Host, p.ClientID)
}

func (m2mCredential) fromStore(_ registry.Profile, s secret) (string, *tokensource.Grant, string) {
	if s.Kind != KindOAuthM2M {
		return "", nil, ""
	}
	return s.ClientSecret, nil, ""
}

func (m2mCredential) start(_ context.Context, o *owner, p registry.Profile, root string, _ *tokensource.Grant, _ tokensource.Token) (tokensource.TokenSource, tokensource.Lifecycle) {
	return renewing(o.env.newClientCredentials(p, root))
}

func (m2mCredential) narrow(name string) error {
	return errNoScopes("profile %q is a service principal (OAuth M2M), whose access tokens dbx-cred does not narrow to scopes: leave out --scope", name)
}

func (m2mCredential) rotatable(p registry.Profile) error {
	return errNoScopes("profile %q is a service principal (OAuth M2M): there is no token to rotate; to replace its client secret, create a new one in the account console (Service principals > Secrets) and run %s", p.Name, loginCommand(p))
}

func (m2mCredential) loginNeeded(p registry.Profile, err error) string {
	if !errors.Is(err, tokensource.ErrClientRejected) {
		return ""
	}
	// The secret was deleted or expired in the account since login.
	return fmt.Sprintf("the workspace no longer accepts the client secret of profile %q: create a new one for the service principal and run %s", p.Name, loginCommand(p))
}

func (m2mCredential) revokeUnused(context.Context, *env, registry.Profile, string, *tokensource.Grant) ([]string, error) {
	return nil, nil
}

func (m2mCredential) logoutAdvice(registry.Profile, []string) string {
	return "nothing to revoke in the workspace: the access tokens served for this service principal expire on their own within the hour. " +
		"Its client secret is still valid: delete it in the account console (Service principals > Secrets) unless another tool uses it."
}

// encodeClientSecret is an oauth-m2m profile's store item.
func encodeClientSecret(clientSecret string) string {
	return encodeItem(secret{Version: 1, Kind: KindOAuthM2M, ClientSecret: clientSecret})
}

// newClientCredentials is an oauth-m2m profile's source. The workspace's
// token endpoint is at a fixed path (its OAuth discovery document names
// the same one), so no discovery round trip is needed. An account-level
// profile's is <accounts host>/oidc/accounts/<account id>/v1/token, for
// which there is no discovery document at all.
func (e *env) newClientCredentials(meta registry.Profile, clientSecret string) *tokensource.ClientCredentials {
	tokenURL := meta.Host + "/oidc/v1/token"
	if meta.AccountID != "" {
		tokenURL = meta.Host + "/oidc/accounts/" + meta.AccountID + "/v1/token"
	}
	return tokensource.NewClientCredentials(tokensource.ClientCredentialsConfig{
		TokenURL: tokenURL, ClientID: meta.ClientID, ClientSecret: clientSecret, Clock: e.rot.Clock,
	})
}

// loginM2M validates a service principal's client secret with a first
// access token and SCIM Me, then records the profile. The validated source
// becomes the profile's, so its first token is not asked for twice.
func (m *Manager) loginM2M(ctx context.Context, name, host, clientSecret, clientID, accountID string) (Profile, bool, error) {
	if strings.ContainsFunc(clientID, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return Profile{}, false, badInput("the client id contains white space or control characters: pass the service principal's application id")
	}
	if !validAccountID(accountID) {
		return Profile{}, false, badInput("the account id may hold only letters, digits and '-': pass the id shown in the account console")
	}
	where := host
	if accountID != "" {
		where = fmt.Sprintf("%s (account %s)", host, accountID)
	}
	meta := registry.Profile{Name: name, Host: host, Kind: KindOAuthM2M, ClientID: clientID, AccountID: accountID,
		Created: time.Now().UTC().Truncate(time.Second), SecretKey: newSecretKey(name), LoginID: randomHex(4),
		Store: m.currentStore()}
	src := m.env.newClientCredentials(meta, clientSecret)
	t, err := src.Token(ctx)
	if err != nil {
		src.Stop()
		if errors.Is(err, tokensource.ErrClientRejected) {
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s refused client id %s with this secret (wrong or expired secret, or no such service principal), "+
				"so nothing was stored: create a new OAuth secret for the service principal (account console > Service principals > Secrets) and use that", where, clientID)}
		}
		if accountID != "" {
			return Profile{}, false, fmt.Errorf("get a first OAuth access token from %s (nothing was stored; is the account id right? it is in the account console, under your user menu): %w", where, err)
		}
		return Profile{}, false, fmt.Errorf("get a first OAuth access token from %s (nothing was stored): %w", host, err)
	}
	var user workspace.User
	if accountID != "" {
		av, ok := m.validator.(AccountValidator)
		if !ok {
			src.Stop()
			return Profile{}, false, badInput("this daemon cannot validate account-level logins")
		}
		user, err = av.AccountMe(ctx, host, accountID, t.Value)
	} else {
		user, err = m.validator.Me(ctx, host, t.Value)
	}
	if err != nil {
		src.Stop()
		if errors.Is(err, workspace.ErrRejected) && accountID != "" {
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s issued an access token to client id %s but the account API rejected it, "+
				"so nothing was stored: check the account id and that the service principal belongs to that account, then log in again", where, clientID)}
		}
		if errors.Is(err, workspace.ErrRejected) {
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s issued an access token to client id %s but rejected it (is the service principal added to this workspace?), "+
				"so nothing was stored: add it to the workspace, then log in again", host, clientID)}
		}
		return Profile{}, false, fmt.Errorf("validate the service principal's access token against %s (nothing was stored): %w", host, err)
	}
	meta.UserName = user.UserName
	return m.record(ctx, meta, encodeClientSecret(clientSecret), func(o *owner) {
		o.mu.Lock()
		o.root = clientSecret
		o.mu.Unlock()
		o.install(renewing(src))
	}, func() { src.Stop() })
}
