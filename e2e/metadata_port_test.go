package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdPort listens on a free port for the rest of the test, as another
// user's dbx-credd (or any program) would hold 127.0.0.1:8471.
func holdPort(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatalf("hold %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

type metadataStatus struct {
	PID            int64  `json:"pid"`
	MetadataListen string `json:"metadata_listen"`
	MetadataError  string `json:"metadata_error"`
}

// metadataStatus reads dbx-cred status --json, the way a user's script would.
func (w *world) metadataStatus() metadataStatus {
	w.t.Helper()
	var st metadataStatus
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func (w *world) metadataStateFile() string {
	return filepath.Join(w.env["XDG_CONFIG_HOME"], "dbx-cred", "metadata-listen.json")
}

// assertMetadataDown checks every place the user can learn that the
// metadata listener is down and why, and that tokens still flow.
func (w *world) assertMetadataDown(why ...string) {
	w.t.Helper()
	st := w.metadataStatus()
	for _, s := range why {
		if !strings.Contains(st.MetadataError, s) {
			w.t.Fatalf("status --json metadata_error = %q, want it to say %q", st.MetadataError, s)
		}
	}
	if st.MetadataListen != "" {
		w.t.Fatalf("status --json metadata_listen = %q while down", st.MetadataListen)
	}
	if out := w.mustHelper("", "status"); !strings.Contains(out, "metadata:  DOWN: "+st.MetadataError) {
		w.t.Fatalf("dbx-cred status does not show the metadata service down:\n%s", out)
	}
	if log := w.daemonLog(); !strings.Contains(log, "metadata service down") {
		w.t.Fatalf("the daemon did not log the metadata service down:\n%s", log)
	}
	// The socket serves regardless: this is what used to be exit 2.
	w.validToken("-p", "prod")
	// MetadataURL names the cause instead of handing out a dead URL.
	_, errOut, code := w.helper("", "metadata-url", "-p", "prod")
	if code == 0 || !strings.Contains(errOut, "not serving") || !strings.Contains(errOut, why[0]) {
		w.t.Fatalf("metadata-url while down: exit %d, %q", code, errOut)
	}
}

// TestMetadataPortTakenDaemonStillServes: a metadata port that another
// program holds no longer keeps dbx-credd from starting; it serves the
// socket and says why the metadata service is down.
func TestMetadataPortTakenDaemonStillServes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	held := holdPort(t, "127.0.0.1:0").Addr().String()
	w.startDaemon("--metadata-listen", held)
	w.login("prod")
	w.assertMetadataDown(held, "--metadata-listen")
}

// TestMetadataPortRemembered: the port chosen at the first start is the
// port of every later start, so URLs handed out keep working; when it is
// taken later the service is down with the way out, and does not move.
func TestMetadataPortRemembered(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	url := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod"))
	base := w.metadataStatus().MetadataListen
	if !strings.HasPrefix(url, base+"/") {
		t.Fatalf("URL %q is not under %q", url, base)
	}
	b, err := os.ReadFile(w.metadataStateFile())
	if err != nil || !strings.Contains(string(b), strings.TrimPrefix(base, "http://")) {
		t.Fatalf("state file: %q %v", b, err)
	}

	w.stopDaemon()
	w.startDaemon()
	if got := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod")); got != url {
		t.Fatalf("after a restart the URL is %q, was %q", got, url)
	}
	if code := rawGet(t, url, w.srv.URL, nil); code != 200 {
		t.Fatalf("the URL from before the restart answers %d", code)
	}

	// Someone else takes the remembered port while the daemon is stopped.
	w.stopDaemon()
	ln := holdPort(t, strings.TrimPrefix(base, "http://"))
	w.startDaemon()
	w.assertMetadataDown(strings.TrimPrefix(base, "http://"), w.metadataStateFile(), "remove")

	// Freed: the running daemon takes it (it tries again every few
	// seconds), with no restart, and the old URL works again.
	ln.Close()
	deadline := time.Now().Add(30 * time.Second)
	for st := w.metadataStatus(); st.MetadataListen != base || st.MetadataError != ""; st = w.metadataStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("30 s after freeing the port: %+v, want %s", st, base)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := rawGet(t, url, w.srv.URL, nil); code != 200 {
		t.Fatalf("the first URL answers %d after the port came back", code)
	}
	if log := w.daemonLog(); !strings.Contains(log, "metadata service up: its port is free now") {
		t.Errorf("no line in the log when the port came back:\n%s", log)
	}

	// A path this daemon does not know (another registry's URL, say) is
	// answered with who this daemon is.
	resp, err := http.Get(base + "/not-a-url-of-this-daemon")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "the dbx-credd of pid") || !strings.Contains(string(body), "another dbx-credd's of yours") {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, body)
	}
}

// TestMetadataDefaultPortTaken: the default port belongs to the whole
// machine. When it is taken at the first start (no port remembered), a
// free one is chosen, logged, and kept at the next start. The test build's
// preferred address stands in for 127.0.0.1:8471, which other tests and
// other users may hold.
func TestMetadataDefaultPortTaken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	held := holdPort(t, "127.0.0.1:0").Addr().String()
	w.env[metadataDefaultEnv] = held
	delete(w.env, "DBX_CRED_METADATA_LISTEN")
	w.daemonArgs = nil // no --metadata-listen: the automatic choice
	w.startDaemon()
	st := w.metadataStatus()
	if st.MetadataError != "" || st.MetadataListen == "" || st.MetadataListen == "http://"+held {
		t.Fatalf("first start with the default port taken: %+v", st)
	}
	if log := w.daemonLog(); !strings.Contains(log, "default metadata port is taken") || !strings.Contains(log, "remembered") {
		t.Fatalf("the choice is not in the log:\n%s", log)
	}
	w.stopDaemon()
	w.startDaemon()
	if again := w.metadataStatus(); again.MetadataListen != st.MetadataListen {
		t.Fatalf("after a restart the metadata service is on %q, was %q", again.MetadataListen, st.MetadataListen)
	}
}
