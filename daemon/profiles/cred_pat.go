package profiles

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// patCredential is what both kinds of PAT profile share: the store item
// holds the pasted (or rotated) personal access token, which is itself a
// bearer token.
type patCredential struct{}

func (patCredential) kind() string { return KindPAT }

func (patCredential) loginCommand(p registry.Profile) string {
	return fmt.Sprintf("dbx-cred login -p %s --host %s", p.Name, p.Host)
}

func (patCredential) fromStore(_ registry.Profile, s secret) (string, *tokensource.Grant, string) {
	if s.Kind != "" && s.Kind != KindPAT {
		return "", nil, ""
	}
	return s.Token, nil, ""
}

func (patCredential) rotatable(registry.Profile) error { return nil }
func (patCredential) bearerRoot() bool                 { return true }

// autoRotated: only a root dbx-cred created has a known id and expiry.
func (patCredential) autoRotated(p registry.Profile) bool {
	return p.RootID != "" && !p.RootExpiry.IsZero() && !p.NoAutoRotate
}

func (patCredential) loginNeeded(registry.Profile, error) string { return "" }

func (patCredential) revokeUnused(context.Context, *env, registry.Profile, string, *tokensource.Grant) ([]string, error) {
	return nil, nil
}

func (patCredential) logoutAdvice(p registry.Profile, _ []string) string {
	if p.RootID != "" {
		return ""
	}
	return "the token you pasted at login is still valid in the workspace: revoke it there (User Settings > Developer > Access tokens) unless another tool uses it."
}

// encodeSecret is a PAT profile's store item.
func encodeSecret(token string) string {
	return encodeItem(secret{Version: 1, Kind: KindPAT, Token: token})
}

// staticPAT serves the stored token itself (login --static).
type staticPAT struct{ patCredential }

func (staticPAT) mode() string   { return ModeStatic }
func (staticPAT) served() string { return "pat" }
func (staticPAT) mints() bool    { return false }

func (staticPAT) start(_ context.Context, _ *owner, _ registry.Profile, root string, _ *tokensource.Grant, _ tokensource.Token) (tokensource.TokenSource, tokensource.Lifecycle) {
	return tokensource.NewStatic(root), nil
}

func (staticPAT) narrow(name string) error {
	return errNoScopes("profile %q serves its stored token as is (--static), which cannot be narrowed to scopes", name)
}

// derivedPAT mints short-lived PATs from the stored root and renews them.
type derivedPAT struct{ patCredential }

func (derivedPAT) mode() string        { return ModeRotating }
func (derivedPAT) served() string      { return "derived-pat" }
func (derivedPAT) mints() bool         { return true }
func (derivedPAT) narrow(string) error { return nil }

// start reuses the token an earlier daemon kept, or keeps first (a login's
// trial mint) for the next one.
func (derivedPAT) start(ctx context.Context, o *owner, p registry.Profile, _ string, _ *tokensource.Grant, first tokensource.Token) (tokensource.TokenSource, tokensource.Lifecycle) {
	if first.Value == "" {
		first = o.env.loadKept(ctx, o, p, "")
	} else {
		o.env.keep(ctx, o, "", first)
	}
	return renewing(o.newDerived(p, nil, first, false))
}

// loginPAT validates a personal access token with SCIM Me and, unless the
// login is static, one trial mint, then records the profile. Login has
// checked the name, the host and the token's text.
func (m *Manager) loginPAT(ctx context.Context, name, host, token string, opt LoginOptions) (Profile, bool, error) {
	user, err := m.validator.Me(ctx, host, token)
	if err != nil {
		if errors.Is(err, workspace.ErrRejected) {
			// Said once: ErrNeedsLogin's own text ("rejected the stored
			// token") would repeat it, and wrongly, as nothing is stored.
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s rejected the token (invalid, expired or revoked), "+
				"so nothing was stored: create a new one in the workspace (User Settings > Developer > Access tokens) and use that", host)}
		}
		return Profile{}, false, fmt.Errorf("validate the token against %s (nothing was stored): %w", host, err)
	}
	lifetime, err := opt.lifetime()
	if err != nil {
		return Profile{}, false, err
	}
	meta := registry.Profile{Name: name, Host: host, UserName: user.UserName, Kind: KindPAT,
		Created: time.Now().UTC().Truncate(time.Second), Mode: ModeStatic, SecretKey: newSecretKey(name), LoginID: randomHex(4),
		Store: m.currentStore(), NoAutoRotate: opt.NoAutoRotate}
	var first tokensource.Token
	if !opt.Static {
		meta.Mode, meta.LifetimeSeconds = ModeRotating, int64(lifetime/time.Second)
		// A first mint proves the workspace lets this user create tokens,
		// before anything is stored.
		if first, err = m.trialMint(ctx, meta, token, lifetime); err != nil {
			return Profile{}, false, err
		}
	}
	return m.record(ctx, meta, encodeSecret(token),
		func(o *owner) { o.start(ctx, meta, token, first) },
		func() { m.revokeQuietly(host, token, first.ID) })
}
