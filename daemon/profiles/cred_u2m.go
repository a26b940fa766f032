package profiles

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
)

// u2mCredential is a user's OAuth login (authorization code + PKCE, or an
// import): the store holds its refresh token, and clients get access
// tokens from the refresh_token grant.
type u2mCredential struct{ oauthCredential }

func (u2mCredential) kind() string   { return KindOAuthU2M }
func (u2mCredential) served() string { return "oauth-u2m" }

func (u2mCredential) loginCommand(p registry.Profile) string {
	if p.AccountID != "" {
		return fmt.Sprintf("dbx-cred login -p %s --host %s --account-id %s --oauth", p.Name, p.Host, p.AccountID)
	}
	return fmt.Sprintf("dbx-cred login -p %s --host %s --oauth", p.Name, p.Host)
}

// fromStore refuses a refresh token whose refresh was cut short: the
// workspace may have rotated it, and presenting a rotated one again makes
// it revoke the whole login.
func (c u2mCredential) fromStore(p registry.Profile, s secret) (string, *tokensource.Grant, string) {
	if s.Kind != KindOAuthU2M {
		return "", nil, ""
	}
	if p.RefreshInFlight != 0 && p.RefreshInFlight >= s.Gen {
		return "", nil, fmt.Sprintf("a refresh of profile %q was cut short (the daemon stopped while the workspace answered), so its stored refresh token may have been rotated; "+
			"dbx-cred does not present it again, as a reused refresh token makes the workspace revoke the whole login: run %s", p.Name, c.loginCommand(p))
	}
	g := s.grant()
	return s.RefreshToken, &g, ""
}

// start serves from the grant read with the root; a login's source is
// made by its flow (LoginU2M) and not started here.
func (u2mCredential) start(_ context.Context, o *owner, p registry.Profile, root string, g *tokensource.Grant, _ tokensource.Token) (tokensource.TokenSource, tokensource.Lifecycle) {
	if g == nil {
		g = &tokensource.Grant{RefreshToken: root, Gen: 1}
	}
	return renewing(o.newRefreshSource(p, *g))
}

func (u2mCredential) narrow(name string) error {
	return errNoScopes("profile %q is an OAuth login, whose scopes are chosen at login (dbx-cred login --oauth --scopes ...): leave out --scope", name)
}

func (u2mCredential) rotatable(p registry.Profile) error {
	return errNoScopes("profile %q is an OAuth login: there is no long-lived token to rotate, as its refresh token is replaced at every refresh already", p.Name)
}

func (c u2mCredential) loginNeeded(p registry.Profile, err error) string {
	if !errors.Is(err, tokensource.ErrRefreshRejected) && !errors.Is(err, tokensource.ErrRefreshUnknown) {
		return ""
	}
	why := "the workspace refused its refresh token (expired, revoked, or its login revoked after a reuse)"
	if errors.Is(err, tokensource.ErrRefreshUnknown) {
		why = "a refresh got no answer after it was sent, so the workspace may have rotated its refresh token, and presenting the old one again would revoke the whole login"
	}
	return fmt.Sprintf("profile %q needs a new login: %s: run %s", p.Name, why, c.loginCommand(p))
}

// revokeUnused: a profile not used since the daemon started has no source
// holding its refresh token, which is still live in the workspace.
func (u2mCredential) revokeUnused(ctx context.Context, e *env, p registry.Profile, root string, g *tokensource.Grant) ([]string, error) {
	if root == "" || g == nil {
		return nil, nil
	}
	return tokensource.NewRefreshToken(e.refreshConfig(p), *g).Revoke(ctx)
}

// logoutAdvice says what a U2M logout could not do in the workspace.
func (u2mCredential) logoutAdvice(meta registry.Profile, revoked []string) string {
	for _, r := range revoked {
		if strings.Contains(r, "refresh token") {
			return "access tokens already handed out stay valid until they expire (within the hour)."
		}
	}
	if meta.RevocationURL == "" {
		return "the workspace offers no OAuth revocation endpoint, so dbx-cred could not revoke the refresh token; it is deleted from the store and no other copy of it is valid. " +
			"Access tokens already handed out stay valid until they expire (within the hour); to end every session of this login now, revoke it in the workspace or account console."
	}
	return "the workspace did not confirm revoking the refresh token (see the daemon log); it is deleted from the store. To end every session of this login now, revoke it in the workspace or account console."
}

// encodeGrant is an oauth-u2m profile's store item.
func encodeGrant(g tokensource.Grant) string {
	return encodeItem(secret{Version: 1, Kind: KindOAuthU2M, RefreshToken: g.RefreshToken, Gen: g.Gen,
		AccessToken: g.Access.Value, AccessExpiry: g.Access.Expiry, Obtained: g.Obtained})
}

func (s secret) grant() tokensource.Grant {
	return tokensource.Grant{RefreshToken: s.RefreshToken, Gen: s.Gen, Obtained: s.Obtained,
		Access: tokensource.Token{Value: s.AccessToken, Expiry: s.AccessExpiry}}
}
