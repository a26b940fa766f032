package profiles

import (
	"context"
	"errors"
	"strings"

	"github.com/dbx-cred/dbx-cred/daemon/workspace"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
)

// CheckToken asks host whether it accepts token, storing nothing: doctor's
// look at a token left in clear in a config file, so that a dead one is
// named as such rather than offered to import (which would refuse it).
// accepted is false with a nil error when the workspace rejects it; an
// error means no answer either way.
func (m *Manager) CheckToken(ctx context.Context, host, token string) (accepted bool, err error) {
	host, err = hosturl.Normalize(host)
	if err != nil {
		return false, badInput("%v", err)
	}
	// Never over plain http to another machine, as for a login without
	// --insecure-http.
	if err := hosturl.CheckTransport(host, false); err != nil {
		return false, badInput("%v", err)
	}
	if token = strings.TrimSpace(token); token == "" {
		return false, badInput("the token is empty")
	}
	if _, err := m.validator.Me(ctx, host, token); err != nil {
		if errors.Is(err, workspace.ErrRejected) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
