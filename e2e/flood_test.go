package e2e

import (
	"context"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

// Another uid floods the metadata port with keep-alive connections, each
// carrying a GET (the review's attack held 21,000 and took the daemon
// down for everyone). The daemon closes them as they come, its memory
// stays bounded, it logs a few lines rather than thousands, and the
// user's own dbx-cred token keeps working throughout. Latency under the
// flood is measured by bench/ (BenchmarkTokenUnderMetadataFlood), not
// asserted here.
func TestMetadataFloodFromAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another uid")
	}
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	u, err := url.Parse(strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := []byte("GET /guess HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Databricks-Metadata-Version: 1\r\n\r\n")
	flooded := make(chan porttest.FloodStats, 1)
	go func() { flooded <- porttest.Flood(ctx, t, 65534, 4, u.Host, req, 4000, 30000) }()

	var took []time.Duration
	maxRSS := int64(0)
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end) && ctx.Err() == nil; {
		start := time.Now()
		if _, stderr, code := w.helper("", "token", "-p", "prod"); code != 0 {
			t.Fatalf("token during the flood: exit %d, %s", code, stderr)
		}
		took = append(took, time.Since(start))
		maxRSS = max(maxRSS, w.daemonRSSKB(t))
	}
	cancel()
	st := <-flooded
	maxRSS = max(maxRSS, w.daemonRSSKB(t))
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("flood: %+v; %d tokens, p50 %s, max %s; daemon max RSS %d MB",
		st, len(took), took[len(took)/2], took[len(took)-1], maxRSS/1024)
	if st.Dialed < 1000 {
		t.Fatalf("the flood opened only %d connections", st.Dialed)
	}
	if st.ClosedByServer*10 < st.Dialed*9 {
		t.Fatalf("the daemon closed only %d of the %d connections of another uid", st.ClosedByServer, st.Dialed)
	}
	if maxRSS > 150*1024 {
		t.Fatalf("daemon RSS reached %d MB under the flood (bound: 150 MB)", maxRSS/1024)
	}
	if n := strings.Count(w.daemonLog(), "refused a connection from another user"); n > 10 {
		t.Fatalf("%d refusal lines logged: the log line is not rate-limited", n)
	}
	// Afterwards the user's own SDK path still answers.
	if code := rawGet(t, u.String(), w.srv.URL, nil); code != 200 {
		t.Fatalf("metadata after the flood: %d", code)
	}
}

// daemonRSSKB reads the running daemon's resident set from /proc.
func (w *world) daemonRSSKB(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(w.daemon.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
