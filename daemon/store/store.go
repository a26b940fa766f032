// Package store keeps secrets. Store is the one small interface the rest of
// the daemon sees; each backend is a leaf package behind it (oskeyring: the
// OS keyring; file: an age-encrypted file; keyctl: the Linux kernel
// keyring), and every backend passes the same conformance test
// (storetest). A memory backend serves unit tests of pure logic.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// ErrNotFound means the store holds no secret under that key.
var ErrNotFound = errors.New("no such secret in the store")

// ErrOutcomeUnknown means a write or delete was sent but not answered in
// time. It may still take effect later: read back before acting on it
// (revoking, deleting, reporting "nothing changed").
var ErrOutcomeUnknown = errors.New("the outcome is unknown")

// ErrLocked means the store needs a passphrase first (the file store after
// a daemon start or dbx-cred lock). It is an UnavailableError's cause, so it
// fails at once with exit 5 instead of waiting or prompting.
var ErrLocked = errkind.New(errkind.StoreLocked, "locked: run dbx-cred unlock")

// ErrCleared is wrapped with ErrNotFound by a store that loses everything
// at a reboot (the kernel keyring), so the profile says why it needs a login.
var ErrCleared = errors.New("the kernel keyring was cleared (reboot)")

// ErrTooBig means the backend refuses a secret of that size.
var ErrTooBig = errors.New("the secret is larger than this store accepts")

// MaxSecret is the largest secret every backend must hold (conformance):
// an OAuth token set as JSON fits within it.
const MaxSecret = 4 << 10

// Settled returns, for an ErrOutcomeUnknown error, a channel closed once the
// abandoned call has really returned; nil for any other error.
func Settled(err error) <-chan struct{} {
	var ue *UnavailableError
	if errors.As(err, &ue) && errors.Is(err, ErrOutcomeUnknown) {
		return ue.Settled
	}
	return nil
}

// Store holds secrets by key. Every call honours ctx and has its own bound:
// no call may block its caller forever.
type Store interface {
	Get(ctx context.Context, key string) (string, error)
	Set(ctx context.Context, key, secret string) error
	Delete(ctx context.Context, key string) error
	// Backend names where secrets go, for status output.
	Backend() string
}

// Lister is a Store that can enumerate its keys (the OS keyring through
// go-keyring cannot, so it is optional).
type Lister interface {
	List(ctx context.Context) ([]string, error)
}

// UnavailableError means the store could not be used at all (as opposed to
// a missing item). Its message names the cause and the fix; it never carries
// a secret, only the key (a profile name).
type UnavailableError struct {
	// Store names the backend in words, e.g. "the OS keyring".
	Store       string
	Op, Key     string
	Reason, Fix string
	Err         error
	// Settled, when the call was sent but not answered in time
	// (ErrOutcomeUnknown), is closed once the abandoned call returns, so
	// that a read-back after it sees the real outcome.
	Settled <-chan struct{}
}

// ErrKind: a locked store is StoreLocked, any other failure StoreUnusable.
func (e *UnavailableError) ErrKind() errkind.Kind {
	if errors.Is(e.Err, ErrLocked) {
		return errkind.StoreLocked
	}
	return errkind.StoreUnusable
}

func (e *UnavailableError) Error() string {
	where := e.Store
	if where == "" {
		where = "the store"
	}
	if errors.Is(e.Err, ErrLocked) {
		// The words users grep for come first: the rest is detail.
		return fmt.Sprintf("%s: cannot %s %q in %s. Fix: %s", ErrLocked, e.Op, shownKey(e.Key), where, e.Fix)
	}
	return fmt.Sprintf("cannot %s %q in %s: %s. Fix: %s (cause: %v)", e.Op, shownKey(e.Key), where, e.Reason, e.Fix, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Health is what a backend says of itself, for status and the diagnosis
// of a daemon that has no usable store.
type Health struct {
	Reachable bool
	Locked    bool
	// Note is one line for humans: where the secrets are, or what is wrong
	// and the fix.
	Note string
}

// Prober is a Store that can say whether it works without touching a
// secret (status, the choice of auto).
type Prober interface {
	Probe(ctx context.Context) Health
}

// WriteChecker is a Store that can tell, without writing, that a write
// would be refused now (the file store while locked; no store chosen).
type WriteChecker interface {
	CheckWrite(ctx context.Context, key string) error
}

// CheckWrite asks s whether a write of key would be refused now; nil when
// s cannot tell. For work that cannot be undone before the write: an
// imported refresh token is spent by the refresh that proves it, so it is
// presented only to a store that can take its successor.
func CheckWrite(ctx context.Context, s Store, key string) error {
	if wc, ok := s.(WriteChecker); ok {
		return wc.CheckWrite(ctx, key)
	}
	return nil
}

// shownKey is how a message names an item: the daemon's keys add a
// generation after a \x1f ("prod\x1f66694b90"), which means nothing to the
// reader and is a control character besides, so only the part before it,
// the profile's name, is shown.
func shownKey(k string) string {
	name, _, _ := strings.Cut(k, "\x1f")
	return name
}
