package metadata

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// lateStore times every write out while late is set, and lands it once
// release is closed, like a keyring prompt answered after we gave up.
type lateStore struct {
	*store.Memory
	late    atomic.Bool
	release chan struct{}
}

func (l *lateStore) Set(ctx context.Context, key, secret string) error {
	if !l.late.Load() {
		return l.Memory.Set(ctx, key, secret)
	}
	settled := make(chan struct{})
	go func() {
		<-l.release
		l.Memory.Set(context.Background(), key, secret)
		close(settled)
	}()
	return &store.UnavailableError{Op: "write", Key: key, Reason: "timed out", Fix: "unlock it",
		Err: fmt.Errorf("%w: %w", store.ErrOutcomeUnknown, context.DeadlineExceeded), Settled: settled}
}

// A URL rotation whose write timed out keeps the old URL, and when the
// write lands late the old one is put back, so a restart still serves the
// URL that .databrickscfg files hold.
func TestLateRotationWriteIsUndone(t *testing.T) {
	ctx := context.Background()
	st := &lateStore{Memory: store.NewMemory(), release: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	names := func() []string { return []string{"prod"} }
	p := NewPaths(st, "inst", names, log)
	old, err := p.Secret(ctx, "prod", false)
	if err != nil {
		t.Fatal(err)
	}
	st.late.Store(true)
	if _, err := p.Secret(ctx, "prod", true); err == nil {
		t.Fatal("a timed-out rotation reported success")
	}
	if got, _ := p.Secret(ctx, "prod", false); got != old {
		t.Fatal("the URL in use changed after a failed rotation")
	}
	st.late.Store(false)
	close(st.release) // the write lands now
	deadline := time.Now().Add(5 * time.Second)
	for {
		restarted := NewPaths(st, "inst", names, log)
		if got, err := restarted.Secret(ctx, "prod", false); err == nil && got == old {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("after the late write, a restarted daemon serves a URL nobody was given")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
