package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// sink keeps allocations from being optimised away.
var sink [][]byte

func TestTrimsAQuietProgramThatHoldsGarbage(t *testing.T) {
	// No collection of its own: only a trim can run one.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	s := newSampler()
	before, _ := s.read()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, 20*time.Millisecond); close(done) }()
	time.Sleep(50 * time.Millisecond) // Run has taken its first reading
	// Garbage, then quiet: the next interval sees growth and no cycle.
	for range 64 {
		sink = append(sink, make([]byte, 64<<10))
	}
	sink = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		if c, _ := s.read(); c > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no collection ran for a quiet program holding 4 MiB of garbage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}

func TestLeavesAnIdleProgramAlone(t *testing.T) {
	forced := []metrics.Sample{{Name: "/gc/cycles/forced:gc-cycles"}}
	metrics.Read(forced)
	before := forced[0].Value.Uint64()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, 10*time.Millisecond); close(done) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	// The runtime may collect on its own (an earlier test's garbage); only
	// a forced collection would be Run's, and less than 1 MiB allocated
	// must not cause one.
	metrics.Read(forced)
	if n := forced[0].Value.Uint64() - before; n != 0 {
		t.Errorf("%d forced collections while nothing was allocated", n)
	}
}
