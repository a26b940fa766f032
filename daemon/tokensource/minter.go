package tokensource

import (
	"context"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/workspace"
)

// PATMinter mints derived personal access tokens with the Token API.
type PATMinter struct {
	// API returns a client authenticated with the current root; a func so
	// that a rotated root takes effect without restarting the source.
	API      func() *workspace.TokenAPI
	Lifetime time.Duration
	Comment  string
	Scopes   []string
}

// Mint implements Minter.
func (m *PATMinter) Mint(ctx context.Context) (Minted, error) {
	t, err := m.API().Create(ctx, m.Lifetime, m.Comment, m.Scopes)
	if err != nil {
		return Minted{}, err
	}
	return Minted{Value: t.Value, ID: t.ID, Lifetime: GrantedLifetime(t.TokenInfo, m.Lifetime)}, nil
}

// GrantedLifetime is the life the workspace gave a new token, from its own
// answer (expiry minus creation); asked is assumed when it names no expiry.
func GrantedLifetime(ti workspace.TokenInfo, asked time.Duration) time.Duration {
	if ti.Expiry.IsZero() || ti.Created.IsZero() {
		return asked
	}
	return ti.Expiry.Sub(ti.Created)
}

// Revoke implements Minter.
func (m *PATMinter) Revoke(ctx context.Context, id string) error {
	return m.API().Delete(ctx, id)
}
