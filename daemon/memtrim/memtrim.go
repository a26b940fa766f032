// Package memtrim gives the daemon's spare memory back to the system when
// it goes quiet. dbx-credd runs with a high GOGC for CPU under load (see
// cmd/dbx-credd), so after a burst (a hundred logins, a busy hour) up to
// several times its live heap can sit as garbage that no collection will
// reclaim until the runtime's two-minute forced one; a per-user daemon
// should not hold that much idle.
package memtrim

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// minGrowth is how much must have been allocated since the last trim for
// another one to be worth a collection.
const minGrowth = 1 << 20

// Run trims every interval in which the program allocated at least 1 MiB
// but collected nothing: quiet, yet holding garbage. A busy daemon collects
// by itself and is left alone; an idle one that allocates nothing is not
// woken. After activity (start-up, a burst), the first quiet interval also
// lets go of the executable's resident code pages (releaseCode). It
// returns when ctx ends.
func Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	s := newSampler()
	cycles, last := s.read()
	trimmedAt, codeAt := last, uint64(0)
	codeHeld := true // start-up faulted the code in
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, allocs := s.read()
		quiet := allocs-last < minActivity
		if c == cycles && allocs-trimmedAt >= minGrowth {
			debug.FreeOSMemory()
			c, allocs = s.read()
			trimmedAt = allocs
		}
		// Activity since the code was last let go may have faulted much of
		// it in again; an interval with next to no allocation says it is
		// over. A quiet daemon's timers alone never get here twice.
		if allocs-codeAt >= minGrowth {
			codeHeld = true
		}
		if quiet && codeHeld {
			// Best effort: on failure the pages stay, as without it.
			_ = releaseCode()
			codeHeld, codeAt = false, allocs
		}
		cycles, last = c, allocs
	}
}

// minActivity is what an interval may allocate and still count as quiet
// (a renewal's timer, a status call).
const minActivity = 64 << 10

// sampler reads the two runtime metrics Run needs without stopping the
// world (runtime.ReadMemStats would).
type sampler struct{ samples []metrics.Sample }

func newSampler() *sampler {
	return &sampler{samples: []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"},
		{Name: "/gc/heap/allocs:bytes"},
	}}
}

func (s *sampler) read() (cycles, allocs uint64) {
	metrics.Read(s.samples)
	return s.samples[0].Value.Uint64(), s.samples[1].Value.Uint64()
}
