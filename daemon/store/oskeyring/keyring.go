// Package oskeyring is the store backend of the OS keyring through
// go-keyring: the Secret Service on Linux, the macOS Keychain, the Windows
// Credential Manager. go-keyring cannot list items and its calls cannot be
// cancelled, so each call runs under a timeout in its own goroutine.
package oskeyring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// DefaultTimeout bounds each keyring call. go-keyring calls cannot be
// cancelled and block forever when an unlock prompt is shown to nobody
// (platform.md); 5 s is long enough for a real prompt answered at once.
const DefaultTimeout = 5 * time.Second

// Keyring stores secrets in the OS keyring (Secret Service, macOS Keychain,
// Windows Credential Manager) under one service name, one item per key.
type Keyring struct {
	service string
	timeout time.Duration
	getenv  func(string) string
	// slots bounds the calls in flight, abandoned (timed-out) ones
	// included: a keyring slower than the callers (gnome-keyring rewrites
	// its whole file on every write) must make them wait, not pile up
	// goroutines and D-Bus calls until the bus refuses more.
	slots chan struct{}
}

// maxKeyringCalls is how many calls one Keyring has in flight at most.
const maxKeyringCalls = 4

// NewKeyring returns a Keyring for service. timeout <= 0 means DefaultTimeout.
// getenv is consulted for the session bus address before each call.
func NewKeyring(service string, timeout time.Duration, getenv func(string) string) *Keyring {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Keyring{service: service, timeout: timeout, getenv: getenv, slots: make(chan struct{}, maxKeyringCalls)}
}

// Backend implements store.Store.
func (k *Keyring) Backend() string { return backendName }

// where names this backend in error messages.
const where = "the OS keyring"

// probeKey is read (never written) to learn whether the keyring answers:
// "not found" means it does.
const probeKey = "dbx-cred-probe"

// Probe implements store.Prober: one read of an item that does not exist.
func (k *Keyring) Probe(ctx context.Context) store.Health {
	_, err := k.Get(ctx, probeKey)
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return store.Health{Reachable: true, Note: backendName + " answers"}
	}
	var ue *store.UnavailableError
	if errors.As(err, &ue) {
		return store.Health{Reachable: false, Locked: ue.Fix == lockedFix, Note: ue.Reason + ": " + ue.Fix}
	}
	return store.Health{Note: err.Error()}
}

// Get implements store.Store.
func (k *Keyring) Get(ctx context.Context, key string) (string, error) {
	var secret string
	err := k.call(ctx, "read", key, func() error {
		var err error
		secret, err = keyring.Get(k.service, key)
		return err
	})
	return secret, err
}

// Set implements store.Store.
func (k *Keyring) Set(ctx context.Context, key, secret string) error {
	return k.call(ctx, "write", key, func() error { return keyring.Set(k.service, key, secret) })
}

// Delete implements store.Store.
func (k *Keyring) Delete(ctx context.Context, key string) error {
	return k.call(ctx, "delete", key, func() error { return keyring.Delete(k.service, key) })
}

// call runs one keyring operation under the timeout. A call that times out
// keeps running in its goroutine (go-keyring offers no way to abort it); the
// result is dropped when it finally returns. The channel is buffered so that
// goroutine never blocks on a reader that has gone.
func (k *Keyring) call(ctx context.Context, verb, key string, op func() error) error {
	if err := preflight(k.getenv); err != nil {
		return &store.UnavailableError{Store: where, Op: verb, Key: key, Reason: err.reason, Fix: err.fix, Err: err.err}
	}
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	done := make(chan error, 1)
	settled := make(chan struct{})
	started := false
	select {
	case k.slots <- struct{}{}:
		started = true
		go func() {
			defer func() { <-k.slots }()
			done <- op()
			close(settled)
		}()
	case <-ctx.Done():
		// The wait for a slot counts against the same timeout.
	}
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		if errors.Is(err, keyring.ErrNotFound) {
			return fmt.Errorf("%s %q: %w", verb, key, store.ErrNotFound)
		}
		if errors.Is(err, keyring.ErrSetDataTooBig) {
			return fmt.Errorf("keyring %s of %q: %w (%v)", verb, key, store.ErrTooBig, err)
		}
		reason, fix := classify(err)
		return &store.UnavailableError{Store: where, Op: verb, Key: key, Reason: reason, Fix: fix, Err: err}
	case <-ctx.Done():
		if !started {
			// Never sent: the outcome is known, nothing happened.
			return &store.UnavailableError{Store: where, Op: verb, Key: key,
				Reason: fmt.Sprintf("the keyring is busy: earlier calls have not answered within %s", k.timeout),
				Fix:    timeoutFix, Err: ctx.Err()}
		}
		// Sent and not answered: it may still land (an unlock prompt
		// answered late), so the outcome is unknown, not failed.
		reason := fmt.Sprintf("the keyring did not answer within %s", k.timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			reason = "the request was cancelled before the keyring answered"
		}
		return &store.UnavailableError{Store: where, Op: verb, Key: key, Reason: reason, Fix: timeoutFix,
			Err: fmt.Errorf("%w: %w", store.ErrOutcomeUnknown, ctx.Err()), Settled: settled}
	}
}

type preflightError struct {
	reason, fix string
	err         error
}

// classify turns a backend error into words a user can act on. The strings
// matched are the ones godbus and go-keyring produce (platform.md).
func classify(err error) (reason, fix string) {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "dbus-launch"), strings.Contains(msg, "DBUS_SESSION_BUS_ADDRESS"):
		return "there is no D-Bus session bus", noBusFix
	case strings.Contains(msg, "org.freedesktop.secrets was not provided"),
		strings.Contains(msg, "ServiceUnknown"):
		return "no Secret Service provider is running on the session bus", noProviderFix
	case strings.Contains(msg, "failed to unlock"), strings.Contains(msg, "IsLocked"),
		strings.Contains(msg, "dismissed"):
		return "the keyring collection is locked and could not be unlocked", lockedFix
	case strings.Contains(msg, "no such object"), strings.Contains(msg, "UnknownObject"):
		return "the keyring has no usable collection", lockedFix
	}
	return "the keyring returned an error", otherFix
}
