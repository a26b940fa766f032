package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// The rotation benchmark's shape. 500 profiles are spread over 10 users so
// that no user nears the workspace's 600-token quota: each profile holds one
// or two minted tokens (two during a renewal's grace period).
const (
	rotProfiles = 500
	rotUsers    = 10
	rotClients  = 16 // gRPC connections calling GetToken, one goroutine each
	rotLogins   = 8  // logins in parallel while setting up
	// maxMints is profiles.Rotation.MaxConcurrentMints' default: the bound
	// the daemon keeps on concurrent token/create calls.
	maxMints = 8
	// rotSecondsDefault is how long clients run; ROTATION_SECONDS overrides.
	rotSecondsDefault = 60
	pathTokenCreate   = "/api/2.0/token/create"
)

// BenchmarkRotation500 runs the real dbx-credd with 500 (ROTATION_PROFILES)
// rotating profiles
// whose tokens live 10 to 20 s, and clients calling GetToken for random
// profiles over the socket for ROTATION_SECONDS (default 60). It reports the
// most token/create calls the workspace saw at once (over the whole run,
// logins included; the daemon's bound is 8), renewals per second (creates
// per second while clients run), served tokens that were expired or that
// the workspace refused (must be 0), GetToken calls/s, and the daemon's
// resident memory: VmRSS at the end and VmHWM, its peak. One op is the whole
// run: use -benchtime=1x.
func BenchmarkRotation500(b *testing.B) {
	requireBenchTools(b)
	seconds, n := envInt(b, "ROTATION_SECONDS", rotSecondsDefault), envInt(b, "ROTATION_PROFILES", rotProfiles)
	for range b.N {
		runRotation(b, n, time.Duration(seconds)*time.Second)
	}
}

func envInt(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func requireBenchTools(b *testing.B) {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("the benchmarks need Linux (gnome-keyring on a private D-Bus, /proc)")
	}
	for _, n := range []string{"dbus-daemon", "gnome-keyring-daemon", "gdbus"} {
		if _, err := exec.LookPath(n); err != nil {
			b.Skipf("%s is missing: install the Debian packages gnome-keyring and dbus (make test-deps)", n)
		}
	}
	buildOnce.Do(func() { buildErr = build() })
	if buildErr != nil {
		b.Fatal(buildErr)
	}
}

func runRotation(b *testing.B, profiles int, runFor time.Duration) {
	b.StopTimer()
	emu := wsemu.New()
	w, url, err := newEmptyWorld(emu)
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	pats := make([]string, rotUsers)
	for i := range pats {
		pats[i] = emu.AddUser(fmt.Sprintf("user%d@example.com", i))
	}
	names := make([]string, profiles)
	for i := range names {
		names[i] = fmt.Sprintf("rot%03d", i)
	}

	// Logins, a few at a time as a script would; lifetimes 10 to 20 s.
	t0 := time.Now()
	var next atomic.Int64
	var loginErr error
	var loginOnce sync.Once
	var wg sync.WaitGroup
	for range rotLogins {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < profiles; i = int(next.Add(1) - 1) {
				life := fmt.Sprintf("%ds", 10+i%11)
				if _, err := w.helper(pats[i%rotUsers]+"\n", "login", "-p", names[i], "--host", url, "--token-lifetime", life); err != nil {
					loginOnce.Do(func() { loginErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if loginErr != nil {
		b.Fatal(loginErr)
	}
	b.Logf("logged in %d profiles in %s", profiles, time.Since(t0).Round(time.Millisecond))
	pid, err := w.daemonPID()
	if err != nil {
		b.Fatal(err)
	}

	clients := make([]agentgrpc.AgentServiceClient, rotClients)
	for i := range clients {
		conn, err := grpc.NewClient(safesocket.Target(w.socket), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		clients[i] = agentgrpc.NewAgentServiceClient(conn)
	}
	roots := map[string]bool{}
	for _, p := range pats {
		roots[p] = true
	}

	var calls, bad, failed atomic.Int64
	var firstBad, firstErr atomic.Value
	var maxRSS atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()
	creates0 := emu.Requests("POST", pathTokenCreate)
	b.StartTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				name := names[rand.IntN(len(names))]
				// Calls get their own deadline: ctx only says when to stop,
				// so no call in flight at the end counts as failed.
				callCtx, cancelCall := context.WithTimeout(context.Background(), 30*time.Second)
				resp, err := c.GetToken(callCtx, &pb.GetTokenRequest{Profile: name})
				cancelCall()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %v", name, err))
					continue
				}
				calls.Add(1)
				tok := resp.GetAccessToken()
				// Expired by its own stated expiry, refused by the workspace,
				// or a root: all count as a bad token served.
				why := ""
				switch _, ok := emu.Authenticate(tok); {
				case roots[tok]:
					why = "a root token"
				case !resp.GetExpiry().IsValid() || !time.Now().Before(resp.GetExpiry().AsTime()):
					why = "expired by its stated expiry"
				case !ok:
					why = "refused by the workspace"
				}
				if why != "" {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, name+": "+why)
				}
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if kb, err := procStatusKB(pid, "VmRSS"); err == nil && kb > maxRSS.Load() {
				maxRSS.Store(kb)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	creates := emu.Requests("POST", pathTokenCreate) - creates0
	_, peak := emu.InFlight("POST", pathTokenCreate)
	rss, rssErr := procStatusKB(pid, "VmRSS")
	hwm, hwmErr := procStatusKB(pid, "VmHWM")
	if rssErr != nil || hwmErr != nil {
		b.Fatalf("read /proc/%d/status: %v %v", pid, rssErr, hwmErr)
	}
	logData, _ := os.ReadFile(filepath.Join(w.root, "dbx-credd.log"))
	renewFailures := bytes.Count(logData, []byte("token renewal failed"))

	b.ReportMetric(float64(peak), "peak-creates")
	b.ReportMetric(float64(creates)/elapsed.Seconds(), "renewals/s")
	b.ReportMetric(float64(bad.Load()), "expired-served")
	b.ReportMetric(float64(calls.Load())/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(rss)/1024, "rss-MB")
	b.ReportMetric(float64(max(hwm, maxRSS.Load()))/1024, "peak-rss-MB")
	b.ReportMetric(float64(renewFailures), "renew-failures")
	// Renewals still happen when the keyring cannot keep the token (it is
	// served anyway), but a restart then mints instead of reusing it.
	b.ReportMetric(float64(bytes.Count(logData, []byte("could not keep the minted token")))/elapsed.Seconds(), "persist-fail/s")
	// Correctness, not performance: these fail the run whatever the figures.
	if n := bad.Load(); n > 0 {
		b.Errorf("%d bad tokens served; the first: %v", n, firstBad.Load())
	}
	if n := failed.Load(); n > 0 {
		b.Errorf("%d GetToken calls failed; the first: %v", n, firstErr.Load())
	}
	if peak > maxMints {
		b.Errorf("%d token/create calls at once; the daemon's bound is %d", peak, maxMints)
	}
}

// daemonPID asks the running daemon for its pid.
func (w *world) daemonPID() (int, error) {
	out, err := w.helper("", "status", "--json")
	if err != nil {
		return 0, err
	}
	var st struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.PID == 0 {
		return 0, fmt.Errorf("no pid in dbx-cred status --json: %v", err)
	}
	return st.PID, nil
}

// procStatusKB reads a "Key: N kB" line of /proc/<pid>/status.
func procStatusKB(pid int, key string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}
