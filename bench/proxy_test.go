package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// proxyWorld is a world with profile logged in and its local proxy
// started: the workspace's URL, the proxy's, and a token for going direct.
func proxyWorld(b *testing.B) (w *world, direct, proxied, token string) {
	b.Helper()
	sharedWorld(b) // the binaries, and the skip when the machine cannot
	emu := wsemu.New()
	pat := emu.AddUser("bench@example.com")
	w, url, err := newEmptyWorld(emu)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.close)
	if _, err := w.helper(pat+"\n", "login", "-p", profile, "--host", url); err != nil {
		b.Fatal(err)
	}
	p, err := w.helper("", "proxy", "-p", profile, "--url")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := w.helper("", "token", "-p", profile)
	if err != nil {
		b.Fatal(err)
	}
	return w, url, strings.TrimSpace(p), strings.TrimSpace(tok)
}

const mePath = "/api/2.0/preview/scim/v2/Me"

// get is one keep-alive GET of SCIM Me, its body drained.
func get(c *http.Client, url, token string) error {
	req, _ := http.NewRequest("GET", url+mePath, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkProxyAddedLatency: what the local proxy adds to a request on
// loopback, at p50 and p99, against the same request sent straight to
// the (emulated) workspace; one keep-alive connection each, alternating.
func BenchmarkProxyAddedLatency(b *testing.B) {
	_, direct, proxied, token := proxyWorld(b)
	c := &http.Client{Timeout: 10 * time.Second}
	for range 200 { // warm both paths: connections, the daemon's token
		get(c, direct, token)
		get(c, proxied, "")
	}
	d, p := make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := get(c, direct, token); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := get(c, proxied, ""); err != nil {
			b.Fatal(err)
		}
		d, p = append(d, t1.Sub(t0)), append(p, time.Since(t1))
	}
	b.StopTimer()
	slices.Sort(d)
	slices.Sort(p)
	q := func(s []time.Duration, f float64) float64 { return float64(s[int(f*float64(len(s)-1))].Microseconds()) }
	b.ReportMetric(q(d, 0.5), "direct-p50-µs")
	b.ReportMetric(q(p, 0.5), "proxied-p50-µs")
	b.ReportMetric(q(p, 0.5)-q(d, 0.5), "added-p50-µs")
	b.ReportMetric(q(p, 0.99)-q(d, 0.99), "added-p99-µs")
}

// BenchmarkProxy64: requests per second through the proxy from 64
// keep-alive connections.
func BenchmarkProxy64(b *testing.B) {
	_, _, proxied, _ := proxyWorld(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := get(c, proxied, ""); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
