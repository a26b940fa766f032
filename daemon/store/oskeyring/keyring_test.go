package oskeyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/storetest"
)

// requireSecretService skips outside scripts/with-secret-service, which
// make test always uses, so CI never silently skips these.
func requireSecretService(t *testing.T) {
	t.Helper()
	if os.Getenv("DBX_CRED_IN_SECRET_SERVICE") != "1" {
		t.Skip("needs a real Secret Service: run under scripts/with-secret-service (make test does)")
	}
}

func TestKeyringRoundTrip(t *testing.T) {
	requireSecretService(t)
	ctx := context.Background()
	k := NewKeyring(fmt.Sprintf("dbx-cred-test-%d", time.Now().UnixNano()), 0, os.Getenv)
	if _, err := k.Get(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing item = %v, want ErrNotFound", err)
	}
	if err := k.Set(ctx, "prod", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(ctx, "prod", "s3cret-2"); err != nil {
		t.Fatal(err)
	}
	got, err := k.Get(ctx, "prod")
	if err != nil || got != "s3cret-2" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := k.Delete(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
}

func TestCallTimesOut(t *testing.T) {
	k := NewKeyring("svc", 50*time.Millisecond, func(string) string { return "unix:path=/nonexistent" })
	release := make(chan struct{})
	defer close(release)
	err := k.call(context.Background(), "read", "prod", func() error { <-release; return nil })
	var ue *store.UnavailableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "did not answer within 50ms") {
		t.Fatalf("err = %v, want a timeout UnavailableError", err)
	}
}

func TestPreflightNoBus(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux needs a session bus")
	}
	empty := t.TempDir()
	env := map[string]string{"XDG_RUNTIME_DIR": empty}
	k := NewKeyring("svc", time.Second, func(k string) string { return env[k] })
	called := false
	err := k.call(context.Background(), "read", "prod", func() error { called = true; return nil })
	if called {
		t.Fatal("the keyring was called without a session bus; godbus would autolaunch dbus-launch")
	}
	if err == nil || !strings.Contains(err.Error(), "no D-Bus session bus") || !strings.Contains(err.Error(), "Fix:") {
		t.Fatalf("err = %v", err)
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]string{
		`exec: "dbus-launch": executable file not found in $PATH`:                             "no D-Bus session bus",
		"The name org.freedesktop.secrets was not provided by any .service files":             "no Secret Service provider",
		"failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'":      "locked",
		"Object does not exist at path \u201c/org/freedesktop/secrets/collection/login\u201d": "returned an error",
	}
	for msg, want := range cases {
		reason, fix := classify(errors.New(msg))
		if !strings.Contains(reason, want) || fix == "" {
			t.Errorf("classify(%q) = %q, %q; want reason containing %q", msg, reason, fix, want)
		}
	}
}

func TestConformance(t *testing.T) {
	requireSecretService(t)
	storetest.Run(t, storetest.Suite{
		Open: func(t *testing.T) store.Store {
			k := NewKeyring(fmt.Sprintf("dbx-cred-test-%d", time.Now().UnixNano()), 0, os.Getenv)
			t.Cleanup(func() { _ = keyring.DeleteAll(k.service) })
			return k
		},
		Broken: func(t *testing.T) store.Store {
			// No session bus: the preflight refuses before godbus would
			// try to autolaunch one.
			env := map[string]string{"XDG_RUNTIME_DIR": t.TempDir()}
			if runtime.GOOS != "linux" {
				t.Skip("only Linux has a missing session bus to test")
			}
			return NewKeyring("svc", time.Second, func(k string) string { return env[k] })
		},
	})
}
