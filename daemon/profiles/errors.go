package profiles

import (
	"fmt"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Sentinel errors, each of its kind (internal/errkind), which decides the
// gRPC code, HTTP status and exit code. Each wrapping error's message is
// written for the user and names the fix.
var (
	// ErrUnknownProfile: no profile by that name.
	ErrUnknownProfile = errkind.New(errkind.NotFound, "unknown profile")
	// ErrBadInput: the request itself is wrong (name, host, empty token).
	ErrBadInput = errkind.New(errkind.BadInput, "invalid input")
	// ErrNeedsLogin: the stored credential is gone or was rejected.
	ErrNeedsLogin = errkind.New(errkind.NeedsLogin, "needs login")
	// ErrQuota: the workspace refuses more tokens for this user
	// (QUOTA_EXCEEDED); revoking unused tokens is the fix.
	ErrQuota = errkind.New(errkind.Quota, "token quota exceeded")
)

// badInput is a bad-input error that says only what is wrong and the fix:
// its kind travels with it (to the wire and the exit code), not as an
// "invalid input:" prefix in front of the message.
func badInput(format string, args ...any) error {
	return &kindError{kind: ErrBadInput, msg: fmt.Sprintf(format, args...)}
}
