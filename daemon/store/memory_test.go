package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/dbx-cred/dbx-cred/daemon/store"
	"github.com/dbx-cred/dbx-cred/daemon/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, storetest.Suite{Open: func(*testing.T) store.Store { return store.NewMemory() }})
}

// Messages name a profile's item by the profile, never by the internal key
// with its generation after a control character.
func TestUnavailableErrorNamesTheProfileNotTheKey(t *testing.T) {
	for _, e := range []*store.UnavailableError{
		{Op: "read", Key: "prod\x1f66694b90", Reason: "no answer", Fix: "restart", Err: errors.New("timeout")},
		{Op: "read", Key: "prod\x1f66694b90", Fix: "dbx-cred unlock", Err: store.ErrLocked},
	} {
		if msg := e.Error(); strings.Contains(msg, "\x1f") || strings.Contains(msg, "66694b90") || !strings.Contains(msg, `"prod"`) {
			t.Errorf("%q", msg)
		}
	}
}
