package profiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/dbx-cred/dbx-cred/daemon/registry"
	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/tokensource"
	"github.com/dbx-cred/dbx-cred/daemon/workspace"
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

// DefaultOAuthClientID is the public OAuth client Databricks registers for
// its CLI and SDKs' U2M logins.
const DefaultOAuthClientID = "databricks-cli"

// LoginU2M validates a U2M login's access token (SCIM Me, or account SCIM
// Me with opt.AccountID), stores its refresh token and records the
// profile. host is normalised and its transport checked by the caller. An
// import (no access token yet) is first proven by one refresh.
func (m *Manager) LoginU2M(ctx context.Context, name, host string, opt LoginOptions, l U2MLogin) (Profile, bool, error) {
	if err := ValidateName(name); err != nil {
		return Profile{}, false, err
	}
	if !validAccountID(opt.AccountID) {
		return Profile{}, false, badInput("the account id may hold only letters, digits and '-': pass the id shown in the account console")
	}
	if l.Token == nil || l.Token.RefreshToken == "" {
		return Profile{}, false, badInput("%s returned no refresh token, so dbx-cred cannot keep this login: log in again with offline_access among the scopes", host)
	}
	if l.ClientID == "" {
		l.ClientID = DefaultOAuthClientID
	}
	where := host
	if opt.AccountID != "" {
		where = fmt.Sprintf("%s (account %s)", host, opt.AccountID)
	}
	meta := registry.Profile{Name: name, Host: host, Kind: KindOAuthU2M, ClientID: l.ClientID, AccountID: opt.AccountID,
		TokenURL: l.TokenURL, RevocationURL: l.RevocationURL, Scopes: l.Scopes,
		Created: time.Now().UTC().Truncate(time.Second), SecretKey: newSecretKey(name), LoginID: randomHex(4),
		Store: m.currentStore()}
	grant := tokensource.Grant{RefreshToken: l.Token.RefreshToken, Gen: 1}
	imported := l.Token.AccessToken == ""
	if imported {
		meta.ImportedFrom = refreshDigest(l.Token.RefreshToken)
		if p, ok := m.importedAlready(meta); ok {
			return p, false, nil
		}
		// The proving refresh spends the other tool's refresh token: a
		// store that cannot take its successor (locked) would lose the
		// login in both places.
		if err := store.CheckWrite(ctx, m.env.store, name); err != nil {
			return Profile{}, false, fmt.Errorf("%w. Nothing was presented to %s, so the other tool's login (the Databricks CLI's) still works: fix the store, then run the import again", err, where)
		}
		if err := m.claimImportDurably(meta, where); err != nil {
			return Profile{}, false, err
		}
		// One refresh proves the token; kept in memory until stored.
		src := tokensource.NewRefreshToken(m.env.refreshConfig(meta), grant)
		_, err := src.Token(ctx)
		src.Stop()
		if err != nil {
			// Only a refresh that ended, refused by nothing but a transient
			// error (an error answer, or a request that never left), leaves
			// the token unrotated and fit to be presented again.
			m.endImport(meta.ImportedFrom, ctx.Err() == nil &&
				!errors.Is(err, tokensource.ErrRefreshRejected) && !errors.Is(err, tokensource.ErrRefreshUnknown))
			if errors.Is(err, tokensource.ErrRefreshRejected) {
				return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s refused the refresh token (expired, revoked, or already used by another tool), so nothing was stored: run %s", where, loginCommand(meta))}
			}
			return Profile{}, false, fmt.Errorf("prove the refresh token with one refresh at %s (nothing was stored): %w", where, err)
		}
		// Running until the profile is recorded (or not): another import
		// of this token meanwhile is told to let this one finish, not
		// that the login is lost.
		defer m.endImport(meta.ImportedFrom, false)
		grant = src.Grant()
	} else {
		now := m.env.rot.Clock.Now()
		life := tokensource.AccessLifetime(l.Token)
		grant.Obtained, grant.Access = now, tokensource.Token{Value: l.Token.AccessToken, Expiry: now.Add(life)}
	}
	user, err := m.meOf(ctx, meta, grant.Access.Value)
	if err != nil {
		lost := ""
		if imported {
			lost = " The refresh that proved it rotated the other tool's copy, so that one no longer works either."
		}
		if errors.Is(err, workspace.ErrRejected) {
			return Profile{}, false, &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("%s issued an access token but rejected it at SCIM Me (is the account id right, and is the user in it?), so nothing was stored: run %s.%s", where, loginCommand(meta), lost)}
		}
		return Profile{}, false, fmt.Errorf("validate the OAuth access token against %s (nothing was stored.%s): %w", where, lost, err)
	}
	meta.UserName = user.UserName
	return m.record(ctx, meta, encodeGrant(grant), func(o *owner) {
		o.mu.Lock()
		o.root, o.grant = grant.RefreshToken, &grant
		o.mu.Unlock()
		o.start(ctx, meta, grant.RefreshToken, tokensource.Token{})
	}, func() {})
}

// refreshDigest names a refresh token without revealing it.
func refreshDigest(rt string) string {
	sum := sha256.Sum256([]byte(rt))
	return hex.EncodeToString(sum[:16])
}

// importedAlready finds the profile an earlier import made from the same
// refresh token: that token is superseded, and must not be presented
// again. The profile must be the same name, host and account.
func (m *Manager) importedAlready(meta registry.Profile) (Profile, bool) {
	m.mu.RLock()
	o := m.owners[meta.Name]
	m.mu.RUnlock()
	if o == nil {
		return Profile{}, false
	}
	p := o.snapshot()
	if p.ImportedFrom == "" || p.ImportedFrom != meta.ImportedFrom || p.Host != meta.Host || p.AccountID != meta.AccountID {
		return Profile{}, false
	}
	m.env.log.Info("import of a refresh token this profile was imported from: answered from the profile", "profile", meta.Name)
	return o.view(), true
}

// claimImport lets one import present a refresh token, once: a token an
// earlier import presented is superseded (its successor was lost when that
// import failed), and one being presented must not be presented twice.
// claimImport: m.mu is held.
func (m *Manager) claimImport(meta registry.Profile, where string) error {
	for name, o := range m.owners {
		// importedAlready answered for this very profile; the registry
		// remembers the digest across restarts.
		if p := o.snapshot(); p.ImportedFrom != "" && p.ImportedFrom == meta.ImportedFrom {
			return &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("profile %q was already imported from this refresh token, which is superseded since: "+
				"presenting it again would make the workspace revoke that login too, so dbx-cred will not: point this profile at %q, or run %s", name, name, loginCommand(meta))}
		}
	}
	running, seen := m.imports[meta.ImportedFrom]
	switch {
	case seen && running:
		return badInput("another import of this refresh token into %s is running; let it finish (an import run again after it is answered from the profile it made)", where)
	case seen:
		return &kindError{kind: ErrNeedsLogin, msg: fmt.Sprintf("an earlier import already presented this refresh token to %s, which rotated it, and that import stored nothing; "+
			"presenting it again would make the workspace revoke the whole login, so dbx-cred will not: run %s", where, loginCommand(meta))}
	}
	m.imports[meta.ImportedFrom] = true
	// A retried import (its token was not rotated) is listed once, so
	// retries cannot push older records out early.
	m.importOrder = slices.DeleteFunc(m.importOrder, func(d string) bool { return d == meta.ImportedFrom })
	m.importOrder = append(m.importOrder, meta.ImportedFrom)
	if len(m.importOrder) > maxPresented {
		delete(m.imports, m.importOrder[0])
		m.importOrder = m.importOrder[1:]
	}
	return nil
}

// claimImportDurably is claimImport, recorded in the registry before the
// token is presented: a daemon that dies during the proving refresh must
// not present it again after a restart. A claim the registry could not
// record is withdrawn, and nothing is presented.
func (m *Manager) claimImportDurably(meta registry.Profile, where string) error {
	m.mu.Lock()
	err := m.claimImport(meta, where)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if err := m.saveRegistry(); err != nil {
		m.endImport(meta.ImportedFrom, true)
		return fmt.Errorf("record the import in the registry before presenting its refresh token (nothing was presented): %w", err)
	}
	return nil
}

// endImport records that the import of digest presented its token, or,
// with unrotated, forgets it (the token is still good).
func (m *Manager) endImport(digest string, unrotated bool) {
	m.mu.Lock()
	if !unrotated {
		m.imports[digest] = false
		m.mu.Unlock()
		return
	}
	delete(m.imports, digest)
	m.mu.Unlock()
	if err := m.saveRegistry(); err != nil {
		// Safe: the token is then refused once more than needed.
		m.env.log.Warn("could not clear the record of an import whose token was not rotated", "err", err)
	}
}

// meOf asks who owns token: SCIM Me at the workspace, or at account level.
func (m *Manager) meOf(ctx context.Context, meta registry.Profile, token string) (workspace.User, error) {
	if meta.AccountID == "" {
		return m.validator.Me(ctx, meta.Host, token)
	}
	av, ok := m.validator.(AccountValidator)
	if !ok {
		return workspace.User{}, badInput("this daemon cannot validate account-level logins")
	}
	return av.AccountMe(ctx, meta.Host, meta.AccountID, token)
}

// refreshConfig is what a U2M profile's source needs of meta, without the
// hooks that tie it to the store (an import's proving refresh has none).
func (e *env) refreshConfig(meta registry.Profile) tokensource.RefreshTokenConfig {
	scopes := meta.Scopes
	if len(scopes) == 0 {
		scopes = []string{"offline_access", "all-apis"}
	}
	return tokensource.RefreshTokenConfig{
		Name: meta.Name, TokenURL: meta.TokenURL, RevocationURL: meta.RevocationURL,
		ClientID: meta.ClientID, Scopes: scopes, Clock: e.rot.Clock, Log: e.log,
	}
}

// newRefreshSource is a U2M profile's source: each refresh is recorded in
// the registry before it is sent, and its answer stored and read back
// before the new access token is served.
func (o *owner) newRefreshSource(meta registry.Profile, g tokensource.Grant) *tokensource.RefreshToken {
	c := o.env.refreshConfig(meta)
	c.Intent, c.Persist, c.CrashAt = o.recordRefresh, o.persistGrant, o.env.rot.CrashAt
	return tokensource.NewRefreshToken(c, g)
}

// recordRefresh writes, before a refresh leaves, which generation it
// presents; after one that never left, that none is in flight.
func (o *owner) recordRefresh(_ context.Context, gen int64, inFlight bool) error {
	o.mu.Lock()
	switch {
	case inFlight:
		o.meta.RefreshInFlight = gen
	case o.meta.RefreshInFlight == gen:
		o.meta.RefreshInFlight = 0
	}
	o.publishLocked()
	o.mu.Unlock()
	if err := o.env.saveMeta(); err != nil {
		return fmt.Errorf("write the registry: %w", err)
	}
	return nil
}

// persistGrant stores g under the profile's key and reads it back. The key
// is written in place (unlike a login's, which is new): no refresh starts
// until this one's write is known to have landed, so no older grant can
// land after a newer one.
func (o *owner) persistGrant(ctx context.Context, g tokensource.Grant) error {
	o.env.persistMu.RLock()
	defer o.env.persistMu.RUnlock()
	key, val := o.secretKey(), encodeGrant(g)
	if err := o.env.store.Set(ctx, key, val); err != nil {
		if !errors.Is(err, store.ErrOutcomeUnknown) {
			return err
		}
		// Sent but unanswered: read back only once the call has returned,
		// or the read could see the value from before it.
		select {
		case <-store.Settled(err):
		case <-ctx.Done():
			return fmt.Errorf("%w (still waiting for the store to answer)", err)
		}
	}
	back, err := o.env.store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read the stored refresh token back: %w", err)
	}
	if back != val {
		return errors.New("read the stored refresh token back: the store returned another value")
	}
	o.mu.Lock()
	o.root, o.grant = g.RefreshToken, &g
	o.mu.Unlock()
	return nil
}
