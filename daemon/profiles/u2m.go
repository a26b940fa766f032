package profiles

import (
	"context"
	"errors"

	"golang.org/x/oauth2"
)

// U2MLogin is what a finished authorization-code login (or an import)
// hands the manager: where the tokens come from and the first ones.
type U2MLogin struct {
	// TokenURL is the token endpoint the refresh token belongs to.
	TokenURL string
	// RevocationURL, when the workspace's discovery document names one
	// (RFC 7009), is where logout revokes the refresh token.
	RevocationURL string
	// ClientID is the OAuth client (databricks-cli for U2M).
	ClientID string
	Scopes   []string
	// Token holds the first access token and the refresh token. For an
	// import only RefreshToken is set: the manager refreshes once to prove
	// it, which also kills the other tool's copy.
	Token *oauth2.Token
}

// LoginU2M validates a U2M login's access token (SCIM Me, or account SCIM
// Me with opt.AccountID), stores its refresh token and records the
// profile. host is normalised and its transport checked by the caller.
func (m *Manager) LoginU2M(ctx context.Context, name, host string, opt LoginOptions, l U2MLogin) (Profile, bool, error) {
	return Profile{}, false, errors.New("not implemented yet")
}
