package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// TokenVerdict is what a workspace said of a token.
type TokenVerdict int

const (
	TokenAccepted TokenVerdict = iota + 1
	TokenRejected
	TokenUnknown // no answer either way; TokenCheck.Problem says why
)

// HostToken is a token and the workspace it is for.
type HostToken struct{ Host, Token string }

// TokenCheck is one token's verdict.
type TokenCheck struct {
	Verdict TokenVerdict
	Problem string // for TokenUnknown; never the token
}

const (
	// maxTokenChecks bounds one call: a config file has a handful of
	// profiles, and each check is a request to a workspace.
	maxTokenChecks = 32
	// tokenCheckTimeout bounds each check, so that one silent workspace
	// does not hold up doctor for the SDK's full retry time.
	tokenCheckTimeout = 10 * time.Second
)

// CheckTokens asks each token's workspace, all at once, whether it still
// accepts it. Nothing is stored, logged or audited: the tokens are not
// the daemon's.
func (s *Service) CheckTokens(ctx context.Context, tokens []HostToken) ([]TokenCheck, error) {
	if len(tokens) > maxTokenChecks {
		return nil, errkind.New(errkind.BadInput, fmt.Sprintf("%d tokens to check; at most %d in one call", len(tokens), maxTokenChecks))
	}
	out := make([]TokenCheck, len(tokens))
	var wg sync.WaitGroup
	for i, t := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, tokenCheckTimeout)
			defer cancel()
			ok, err := s.profiles.CheckToken(ctx, t.Host, t.Token)
			switch {
			case err != nil:
				out[i] = TokenCheck{Verdict: TokenUnknown, Problem: err.Error()}
			case ok:
				out[i] = TokenCheck{Verdict: TokenAccepted}
			default:
				out[i] = TokenCheck{Verdict: TokenRejected}
			}
		}()
	}
	wg.Wait()
	return out, nil
}
