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
func (m *PATMinter) Mint(ctx context.Context) (Token, error) {
	t, err := m.API().Create(ctx, m.Lifetime, m.Comment, m.Scopes)
	if err != nil {
		return Token{}, err
	}
	return Token{Value: t.Value, ID: t.ID, Expiry: t.Expiry}, nil
}

// Revoke implements Minter.
func (m *PATMinter) Revoke(ctx context.Context, id string) error {
	return m.API().Delete(ctx, id)
}
