package bench

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkHelperToken times the whole "dbx-cred token -p bench" process:
// fork and exec, gRPC dial over the socket, one GetToken answered from the
// daemon's memory, print, exit. x-hello is its mean over a hello-world's,
// measured in the same loop: every helper run is paired with a hello-world
// run (untimed for ns/op), so drift in the machine's speed hits both alike.
func BenchmarkHelperToken(b *testing.B) {
	w := sharedWorld(b)
	// Loads the profile into the daemon's memory (if login had not) and
	// proves the helper prints a minted token (never the root); then warms
	// the hello-world.
	out, err := w.helper("", "token", "-p", profile)
	if err != nil {
		b.Fatal(err)
	}
	if !strings.HasPrefix(out, "dapi") || out == w.pat+"\n" {
		b.Fatalf("dbx-cred token printed %d bytes, not a minted token", len(out))
	}
	if err := w.spawn(helloBin); err != nil {
		b.Fatal(err)
	}
	var helper, hello time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := w.spawn(helperBin, "token", "-p", profile); err != nil {
			_, why := w.helper("", "token", "-p", profile)
			b.Fatalf("dbx-cred token: %v (%v)", err, why)
		}
		helper += time.Since(t0)

		b.StopTimer()
		t0 = time.Now()
		if err := w.spawn(helloBin); err != nil {
			b.Fatal(err)
		}
		hello += time.Since(t0)
		b.StartTimer()
	}
	b.ReportMetric(float64(helper)/float64(hello), "x-hello")
}

// BenchmarkHelloWorld times a Go hello-world built like the helper, run the
// same way: the floor any Go CLI pays to start.
func BenchmarkHelloWorld(b *testing.B) {
	w := sharedWorld(b)
	if err := w.spawn(helloBin); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := w.spawn(helloBin); err != nil {
			b.Fatal(err)
		}
	}
}
