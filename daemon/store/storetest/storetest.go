// Package storetest is the conformance test every store backend passes:
// set, get, delete and list; secrets up to store.MaxSecret; concurrent use;
// calls bounded by their context; and a damaged or missing backend that
// fails at once with an error naming the fix. Each backend's own test calls
// Run with a way to open a fresh, empty, private store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/store"
)

// Suite tells Run how to reach the backend under test.
type Suite struct {
	// Open returns an empty store private to this test; it removes what
	// the test left behind with t.Cleanup.
	Open func(t *testing.T) store.Store
	// Broken returns a store whose backend is missing or damaged: every
	// call must fail with a *store.UnavailableError, quickly. Nil skips
	// that part (with a notice).
	Broken func(t *testing.T) store.Store
	// Bound is how long one call may take at most here (default 10 s).
	Bound time.Duration
}

// Run runs the conformance test.
func Run(t *testing.T, s Suite) {
	if s.Bound == 0 {
		s.Bound = 10 * time.Second
	}
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, s) })
	t.Run("Keys", func(t *testing.T) { keys(t, s) })
	t.Run("Sizes", func(t *testing.T) { sizes(t, s) })
	t.Run("List", func(t *testing.T) { list(t, s) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(t, s) })
	t.Run("Deadline", func(t *testing.T) { deadline(t, s) })
	t.Run("Broken", func(t *testing.T) { broken(t, s) })
}

func ctxFor(t *testing.T, s Suite) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.Bound)
	t.Cleanup(cancel)
	return ctx
}

func roundTrip(t *testing.T, s Suite) {
	st := s.Open(t)
	ctx := ctxFor(t, s)
	if st.Backend() == "" {
		t.Error("Backend() is empty: status would show nothing")
	}
	if _, err := st.Get(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want store.ErrNotFound", err)
	}
	if err := st.Delete(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete of a missing key = %v, want store.ErrNotFound", err)
	}
	must(t, st.Set(ctx, "prod", "s3cret-1"))
	must(t, st.Set(ctx, "prod", "s3cret-2"))
	if got, err := st.Get(ctx, "prod"); err != nil || got != "s3cret-2" {
		t.Fatalf("Get after two Sets = %q, %v; want the second", got, err)
	}
	must(t, st.Delete(ctx, "prod"))
	if _, err := st.Get(ctx, "prod"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want store.ErrNotFound", err)
	}
}

// keys are the shapes the daemon uses: generation suffixes after \x1f,
// "[metadata]" prefixes, spaces and non-ASCII profile names.
func keys(t *testing.T, s Suite) {
	st := s.Open(t)
	ctx := ctxFor(t, s)
	ks := []string{"prod\x1f0a1b2c3d", "[metadata]prod", "my profile", "prod\x1f\x1f1a2b", "équipe-東京", "a:b/c"}
	for i, k := range ks {
		must(t, st.Set(ctx, k, fmt.Sprintf("v%d", i)))
	}
	for i, k := range ks {
		if got, err := st.Get(ctx, k); err != nil || got != fmt.Sprintf("v%d", i) {
			t.Errorf("Get(%q) = %q, %v", k, got, err)
		}
	}
}

func sizes(t *testing.T, s Suite) {
	st := s.Open(t)
	ctx := ctxFor(t, s)
	var b strings.Builder
	for i := 0; b.Len() < store.MaxSecret; i++ {
		b.WriteByte(byte(' ' + i%95)) // every printable ASCII byte, JSON's quotes and backslashes too
	}
	for _, v := range []string{"x", `{"v":1,"token":"dapi\"\\"}`, "ünïcødé ✓", b.String()} {
		must(t, st.Set(ctx, "big", v))
		if got, err := st.Get(ctx, "big"); err != nil || got != v {
			t.Fatalf("a %d-byte secret did not round-trip: %d bytes back, %v", len(v), len(got), err)
		}
	}
}

func list(t *testing.T, s Suite) {
	st := s.Open(t)
	l, ok := st.(store.Lister)
	if !ok {
		t.Skipf("%s cannot list its items (the registry names every key instead)", st.Backend())
	}
	ctx := ctxFor(t, s)
	must(t, st.Set(ctx, "a", "1"))
	must(t, st.Set(ctx, "b\x1f2", "2"))
	got, err := l.List(ctx)
	must(t, err)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b\x1f2"}) {
		t.Fatalf("List = %q, want [a b\\x1f2]", got)
	}
	must(t, st.Delete(ctx, "a"))
	if got, _ = l.List(ctx); !slices.Equal(got, []string{"b\x1f2"}) {
		t.Fatalf("List after Delete = %q", got)
	}
}

func concurrent(t *testing.T, s Suite) {
	st := s.Open(t)
	ctx := ctxFor(t, s)
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := fmt.Sprintf("w%d", w)
			for r := range rounds {
				v := fmt.Sprintf("%s-%d", own, r)
				if err := st.Set(ctx, own, v); err != nil {
					errs <- err
					return
				}
				if got, err := st.Get(ctx, own); err != nil || got != v {
					errs <- fmt.Errorf("worker %d read %q, %v; wrote %q", w, got, err, v)
					return
				}
				// Everyone writes the shared key: the last write wins
				// whole, never a mix.
				if err := st.Set(ctx, "shared", v); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := st.Get(ctx, "shared")
	must(t, err)
	if !strings.HasPrefix(got, "w") || !strings.Contains(got, "-") {
		t.Fatalf("shared = %q: a torn write", got)
	}
}

// deadline: a call whose context has ended returns at once; it never
// blocks its caller for the backend's sake.
func deadline(t *testing.T, s Suite) {
	st := s.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, gerr := st.Get(ctx, "k")
	_ = st.Set(ctx, "k", "v")
	_ = st.Delete(ctx, "k")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("three calls with an ended context took %s", d)
	}
	if gerr == nil {
		t.Fatal("Get with an ended context returned a secret")
	}
}

func broken(t *testing.T, s Suite) {
	if s.Broken == nil {
		t.Skip("NOTICE: this backend has no damaged or missing form to test here")
	}
	st := s.Broken(t)
	ctx := ctxFor(t, s)
	start := time.Now()
	for _, call := range []func() error{
		func() error { _, err := st.Get(ctx, "prod"); return err },
		func() error { return st.Set(ctx, "prod", "s3cret") },
		func() error { return st.Delete(ctx, "prod") },
	} {
		err := call()
		var ue *store.UnavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("a broken backend answered %v, want a *store.UnavailableError", err)
		}
		if ue.Fix == "" || !strings.Contains(err.Error(), "Fix:") {
			t.Errorf("the error names no fix: %v", err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error carries the secret: %v", err)
		}
	}
	if d := time.Since(start); d > s.Bound {
		t.Fatalf("a broken backend took %s to refuse three calls", d)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
