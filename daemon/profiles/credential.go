package profiles

import (
	"context"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
)

// credential is everything that differs between kinds of credential: one
// leaf per kind (cred_*.go), chosen once from a profile's registry entry by
// credentialOf and kept by its owner for the owner's life. Nothing outside
// the leaves and credentialOf asks which kind a profile is: a new kind of
// credential is one more leaf and one more case there.
//
// A leaf's login flow (validate the secret with the workspace, then
// record) sits in its file too: loginPAT in cred_pat.go, loginM2M in
// cred_m2m.go; U2M's, with its import, in u2m.go. Login and LoginU2M are
// the doors; each makes a registry entry of its own kind, which
// credentialOf then maps back to the leaf.
type credential interface {
	// kind is the registry's and the wire's name for it ("pat", ...).
	kind() string
	// mode is the token mode status shows ("rotating" or "static"); empty
	// where there is no such choice (OAuth access tokens always renew).
	mode() string
	// served names the tokens it serves, in the audit log's words.
	served() string
	// loginCommand is the command that logs p in again, for messages.
	loginCommand(p registry.Profile) string
	// fromStore takes the root this kind is served from out of the store
	// item s. An empty root: the item holds none for this kind. refuse, when
	// set, says why the root must not be used (and the profile needs a login).
	fromStore(p registry.Profile, s secret) (root string, g *tokensource.Grant, refuse string)
	// start builds the source a profile serves its unscoped tokens from:
	// first is a token just minted (a login), g the U2M grant read with the
	// root. life is nil when the source renews nothing.
	start(ctx context.Context, o *owner, p registry.Profile, root string, g *tokensource.Grant, first tokensource.Token) (src tokensource.TokenSource, life tokensource.Lifecycle)
	// narrow is nil when tokens can be narrowed to scopes, else the
	// bad-input error that says why not and what to do.
	narrow(name string) error
	// rotatable is nil when dbx-cred rotate applies, else why not.
	rotatable(p registry.Profile) error
	// mints reports whether its tokens are PATs minted from the root: what
	// leftover clean-up, kept tokens and loading at start are about.
	mints() bool
	// bearerRoot reports whether the root is itself a bearer token, which
	// doctor may send to check it. Otherwise (a client secret, a refresh
	// token) the check is made with a fresh access token.
	bearerRoot() bool
	// autoRotated reports whether p's root is replaced automatically.
	autoRotated(p registry.Profile) bool
	// loginNeeded says, in the user's terms, why an error of this kind's
	// sources means the profile needs a new login; "" when err is not one.
	loginNeeded(p registry.Profile, err error) string
	// revokeUnused revokes what lives in the workspace though no source
	// holds it: a U2M refresh token of a profile not used since the daemon
	// started. Logout and a re-login call it for an unloaded profile.
	revokeUnused(ctx context.Context, e *env, p registry.Profile, root string, g *tokensource.Grant) ([]string, error)
	// logoutAdvice says what a logout leaves alive and what to do about it.
	logoutAdvice(p registry.Profile, revoked []string) string
}

// credentialOf is the registration: the one place that maps a registry
// entry to its credential leaf.
func credentialOf(p registry.Profile) credential {
	switch {
	case p.Kind == KindOAuthM2M:
		return m2mCredential{}
	case p.Kind == KindOAuthU2M:
		return u2mCredential{}
	case p.Kind == KindOIDCFederation:
		return federatedCredential{}
	case p.Mode == ModeRotating:
		return derivedPAT{}
	}
	return staticPAT{}
}

// rootInRegistry is a credential with nothing in the store: its "root" is
// no secret and lives in the registry entry (a federated profile's ID
// token source). Nothing is read from the store, written to it at login,
// or moved by a migration.
type rootInRegistry interface {
	registryRoot(p registry.Profile) string
}

// LoginCommand is the command that logs p in again, for messages (dbx-cred
// doctor's fixes too).
func LoginCommand(p registry.Profile) string { return credentialOf(p).loginCommand(p) }

// loginCommand is LoginCommand, for this package's messages.
func loginCommand(p registry.Profile) string { return credentialOf(p).loginCommand(p) }

// renewing is a source with a lifecycle: what every leaf but a static
// PAT's serves from.
func renewing(s tokensource.Source) (tokensource.TokenSource, tokensource.Lifecycle) {
	return s, s
}

// errNoScopes is the bad-input error of a kind that cannot narrow tokens.
func errNoScopes(format string, args ...any) error {
	return badInput(format, args...)
}
