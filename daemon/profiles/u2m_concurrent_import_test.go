package profiles

import (
	"context"
	"errors"
	"testing"
)

// A second import of a refresh token whose first import has proven it and
// is still validating and storing it (two helpers at once) is told to let
// that one finish, not that the login is lost and must be made again: the
// first import then stores it, and the second, run again, is answered
// from the profile.
func TestU2MImportWhileAnotherIsStoringIsNotLost(t *testing.T) {
	ctx := context.Background()
	w := newU2MWorld(t)
	v := &heldMe{Client: w.ws, entered: make(chan struct{}), release: make(chan struct{})}
	m, err := New(w.path, w.st, v, Rotation{Tokens: w.ws.Tokens}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unload(context.Background())
	_, imp := w.otherToolsLogin()
	first := make(chan error, 1)
	go func() {
		_, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
		first <- err
	}()
	<-v.entered
	_, _, err = m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp)
	close(v.release)
	if err := <-first; err != nil {
		t.Fatalf("first import: %v", err)
	}
	if err == nil || errors.Is(err, ErrNeedsLogin) {
		t.Fatalf("the second import, while the first was storing the login: %v; want to be told to let the first finish", err)
	}
	if _, _, err := m.LoginU2M(ctx, "cli", w.host, LoginOptions{}, imp); err != nil {
		t.Fatalf("import run again after both: %v", err)
	}
	if st := w.emu.OAuthStats(); st.Reuses != 0 || st.FamiliesRevoked != 0 {
		t.Fatalf("the refresh token was presented again: %+v", st)
	}
}
