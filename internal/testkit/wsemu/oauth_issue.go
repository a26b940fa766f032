package wsemu

// IssueOAuthLogin stands for a finished browser login of userName (created
// if new) at the workspace, or with accountID at account level: it returns
// the access and refresh tokens the code exchange would have, with scopes
// offline_access and all-apis. Tests of what comes after a login (renewal,
// the CLI's token cache) use it instead of driving a browser.
func (e *Emulator) IssueOAuthLogin(userName, accountID string) (access, refresh string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := &tokenFamily{user: e.userLocked(userName), clientID: OAuthCLIClientID, accountID: accountID, scopes: []string{"offline_access", "all-apis"}}
	r := e.issueOAuthLocked(f, e.now())
	return r.AccessToken, r.RefreshToken
}

// IssuedRefreshTokens lists every refresh token the emulator ever issued,
// live or not, so tests can scan what a run wrote for any of them.
func (e *Emulator) IssuedRefreshTokens() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.refreshTokens))
	for v := range e.refreshTokens {
		out = append(out, v)
	}
	return out
}
