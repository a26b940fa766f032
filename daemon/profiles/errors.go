package profiles

import "errors"

// Sentinel errors the gRPC layer maps to status codes. Each wrapping error's
// message is written for the user and names the fix.
var (
	// ErrUnknownProfile: no profile by that name.
	ErrUnknownProfile = errors.New("unknown profile")
	// ErrBadInput: the request itself is wrong (name, host, empty token).
	ErrBadInput = errors.New("invalid input")
	// ErrNeedsLogin: the stored credential is gone or was rejected.
	ErrNeedsLogin = errors.New("needs login")
	// ErrQuota: the workspace refuses more tokens for this user
	// (QUOTA_EXCEEDED); revoking unused tokens is the fix.
	ErrQuota = errors.New("token quota exceeded")
)
