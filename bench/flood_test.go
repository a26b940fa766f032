package bench

import (
	"context"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/porttest"
)

// BenchmarkTokenUnderMetadataFlood times the user's dbx-cred token (a whole
// process, as BenchmarkHelperToken) while another uid floods the daemon's
// metadata port with keep-alive connections, each carrying a GET: the
// attack that took the daemon down before its listeners checked a peer
// once, at accept. It reports the p50 and p99 of the user's calls and the
// daemon's resident memory at the end. Root only (the flood runs as uid
// 65534):
//
//	dbus-run-session -- go test -run '^$' -bench MetadataFlood -benchtime=300x ./bench/
func BenchmarkTokenUnderMetadataFlood(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root to flood as another uid")
	}
	w := sharedWorld(b)
	out, err := w.helper("", "metadata-url", "-p", profile)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(strings.TrimSpace(out))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.helper("", "token", "-p", profile); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req := []byte("GET /guess HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Databricks-Metadata-Version: 1\r\n\r\n")
	flooded := make(chan porttest.FloodStats, 1)
	go func() { flooded <- porttest.Flood(ctx, b, 65534, 4, u.Host, req, 4000, 1_000_000) }()
	time.Sleep(time.Second) // let the flood build up
	var took []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := w.spawn(helperBin, "token", "-p", profile); err != nil {
			b.Fatalf("dbx-cred token under the flood: %v", err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	pid, err := w.daemonPID()
	if err != nil {
		b.Fatal(err)
	}
	rss, _ := procStatusKB(pid, "VmRSS")
	cancel()
	st := <-flooded
	if _, err := w.helper("", "token", "-p", profile); err != nil {
		log, _ := os.ReadFile(w.root + "/dbx-credd.log")
		b.Fatalf("after the flood: %v\ndaemon log:\n%s", err, log)
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
	b.ReportMetric(float64(rss)/1024, "daemon-rss-MB")
	b.ReportMetric(float64(st.Dialed), "flood-conns")
	b.ReportMetric(float64(st.ClosedByServer)/float64(max(st.Dialed, 1)), "closed-frac")
}
