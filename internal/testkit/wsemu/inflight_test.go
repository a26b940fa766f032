package wsemu

import (
	"sync"
	"testing"
	"time"
)

func TestInFlightTracksThePeak(t *testing.T) {
	emu, srv, pat := start(t)
	// Latency holds each create in flight long enough for all to overlap.
	emu.InjectFault(Fault{Method: "POST", Path: pathTokenCreate, Latency: 200 * time.Millisecond, Times: 5})
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if r := call(t, srv, "POST", pathTokenCreate, pat, `{"lifetime_seconds": 60}`); r.status != 200 {
				t.Errorf("create: %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if now, peak := emu.InFlight("POST", pathTokenCreate); now != 0 || peak != 5 {
		t.Fatalf("after 5 overlapping creates: now %d, peak %d; want 0, 5", now, peak)
	}
	if _, peak := emu.InFlight("GET", pathTokenList); peak != 0 {
		t.Fatalf("token/list peak %d without a request", peak)
	}
	emu.ResetInFlightPeak()
	call(t, srv, "POST", pathTokenCreate, pat, `{"lifetime_seconds": 60}`)
	if now, peak := emu.InFlight("post", pathTokenCreate); now != 0 || peak != 1 {
		t.Fatalf("after a reset and one create: now %d, peak %d; want 0, 1", now, peak)
	}
}

func TestTokenInfoOf(t *testing.T) {
	clk := newFakeClock()
	emu := New(WithClock(clk.Now))
	v, info := emu.CreatePAT(alice, "scoped", time.Minute, []string{"sql"})
	got, ok := emu.TokenInfoOf(v)
	if !ok || got.TokenID != info.TokenID || len(got.Scopes) != 1 || got.Scopes[0] != "sql" {
		t.Fatalf("TokenInfoOf: %+v %v", got, ok)
	}
	clk.Advance(2 * time.Minute)
	if _, ok := emu.TokenInfoOf(v); ok {
		t.Fatal("an expired token is still described")
	}
	if _, ok := emu.TokenInfoOf("dapi-unknown"); ok {
		t.Fatal("an unknown token is described")
	}
}
