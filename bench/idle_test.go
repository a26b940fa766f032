package bench

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// The idle benchmark's shape: profiles as a team's laptop might hold them,
// over a few users, every fourth one static (a pasted PAT served as is), the
// rest rotating with the default lifetime.
const (
	idleProfiles = 100
	idleUsers    = 4
	idleLogins   = 4 // logins in parallel while setting up
	idleSettle   = 12 * time.Second
)

// BenchmarkIdleRSS100 reports the real dbx-credd's resident memory with 100
// profiles (IDLE_PROFILES) logged in, each asked for a token once (so each
// holds its secret and a minted token in memory, as after a morning's use),
// then left idle for 12 s (the daemon gives a burst's garbage back after 5 to 10 quiet seconds): VmRSS at the end (idle-rss-MB) and VmHWM, the
// peak while logging in (peak-rss-MB). One op is the whole run: use
// -benchtime=1x.
func BenchmarkIdleRSS100(b *testing.B) {
	requireBenchTools(b)
	n := envInt(b, "IDLE_PROFILES", idleProfiles)
	for range b.N {
		runIdle(b, n)
	}
}

func runIdle(b *testing.B, profiles int) {
	b.StopTimer()
	emu := wsemu.New()
	w, url, err := newEmptyWorld(emu)
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	pats := make([]string, idleUsers)
	for i := range pats {
		pats[i] = emu.AddUser(fmt.Sprintf("idle%d@example.com", i))
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range idleLogins {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < profiles; i = int(next.Add(1) - 1) {
				name := fmt.Sprintf("idle%03d", i)
				args := []string{"login", "-p", name, "--host", url}
				if i%4 == 3 {
					args = append(args, "--static")
				}
				// The PAT goes on stdin, never in argv.
				_, err := w.helper(pats[i%idleUsers]+"\n", args...)
				if err == nil {
					_, err = w.helper("", "token", "-p", name)
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("profile %s: %w", name, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	pid, err := w.daemonPID()
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	time.Sleep(idleSettle)
	b.StopTimer()
	rss, rssErr := procStatusKB(pid, "VmRSS")
	hwm, hwmErr := procStatusKB(pid, "VmHWM")
	if rssErr != nil || hwmErr != nil {
		b.Fatalf("read /proc/%d/status: %v %v", pid, rssErr, hwmErr)
	}
	b.ReportMetric(float64(rss)/1024, "idle-rss-MB")
	b.ReportMetric(float64(hwm)/1024, "peak-rss-MB")
	// Anonymous memory (the Go heap, stacks, runtime) is what profiles
	// cost; file-backed pages are the binary's code and data.
	if anon, err := procStatusKB(pid, "RssAnon"); err == nil {
		b.ReportMetric(float64(anon)/1024, "anon-MB")
	}
	if file, err := procStatusKB(pid, "RssFile"); err == nil {
		b.ReportMetric(float64(file)/1024, "file-MB")
	}
}
