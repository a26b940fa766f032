package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// fakeStores answers Info with what a test sets.
type fakeStores struct{ info StoreInfo }

func (f fakeStores) Info(context.Context) StoreInfo { return f.info }
func (fakeStores) Unlock(context.Context, string, bool) (bool, error) {
	return false, errors.New("not in this test")
}
func (fakeStores) Lock(context.Context) (int, error) { return 0, errors.New("not in this test") }
func (fakeStores) Migrate(context.Context, string, string) (string, []string, string, error) {
	return "", nil, "", errors.New("not in this test")
}
func (fakeStores) ProbeWrite(context.Context) error { return nil }

// doctor names a store once: "file (file (/x/secrets.age)) is locked" read
// as a stutter.
func TestDoctorNamesTheStoreOnce(t *testing.T) {
	for _, c := range []struct {
		info StoreInfo
		want string
	}{
		{StoreInfo{Name: "file", Backend: "file (/x/secrets.age)", Reachable: true, Locked: true}, "the file store (/x/secrets.age) is locked"},
		{StoreInfo{Name: "keyctl", Backend: "keyctl (kernel keyring dbx-cred)", Reachable: true}, "the keyctl store (kernel keyring dbx-cred): reachable, unlocked"},
		{StoreInfo{Name: "os", Backend: "Secret Service", Note: "no answer"}, "the os store (Secret Service) does not answer: no answer"},
	} {
		s := &Service{stores: fakeStores{c.info}, log: slog.New(slog.DiscardHandler)}
		var got string
		s.checkStore(context.Background(), func(name, status, msg, fix string) {
			if name == "store" {
				got = msg
			}
		})
		if got != c.want {
			t.Errorf("store check: %q, want %q", got, c.want)
		}
		if strings.Count(got, c.info.Name) != 1 {
			t.Errorf("%q names the store more than once", got)
		}
	}
}
