package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// proxyWorld is a logged-in world and its profile's proxy URL.
func proxyWorld(t *testing.T, opts ...wsemu.Option) (*world, string) {
	t.Helper()
	requireTools(t, "curl")
	w := newWorld(t, opts...)
	w.startDaemon()
	w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL, "--token-lifetime", "10s")
	u := strings.TrimSpace(w.mustHelper("", "proxy", "-p", "prod", "--url"))
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("proxy --url: %q", u)
	}
	return w, u
}

func curlOut(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "curl", append([]string{"-sS"}, args...)...).CombinedOutput()
	return string(b), err
}

// curl through the proxy: no Authorization of its own, a bogus one
// replaced, GET and POST; a rebinding Host refused; the audit shows
// channel proxy; the URL survives a daemon restart.
func TestProxyCurl(t *testing.T) {
	w, u := proxyWorld(t)
	if out, err := curlOut(t, "-f", u+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("GET: %v %s", err, out)
	}
	if out, err := curlOut(t, "-f", "-H", "Authorization: Bearer dapi-bogus", "-H", "X-Databricks-Azure-SP-Management-Token: x", u+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("GET with the client's own Authorization: %v %s", err, out)
	}
	if out, err := curlOut(t, "-f", "-X", "POST", "-d", `{"model":"m"}`, u+"/serving-endpoints/chat/completions"); err != nil || !strings.Contains(out, `"chat.completion"`) {
		t.Fatalf("POST: %v %s", err, out)
	}
	port := strings.TrimPrefix(u, "http://127.0.0.1:")
	if out, _ := curlOut(t, "-H", "Host: evil.example:"+port, "-w", "%{http_code}", u+"/api/2.0/preview/scim/v2/Me"); !strings.HasSuffix(out, "421") || !strings.Contains(out, "DNS rebinding") {
		t.Errorf("rebinding Host: %s", out)
	}
	if out, _ := curlOut(t, "-i", u+"/api/2.0/preview/scim/v2/Me"); strings.Contains(strings.ToLower(out), "access-control-") {
		t.Errorf("CORS headers through the proxy:\n%s", out)
	}
	// A 401 from the workspace: one renewal asked for, one retry, and the
	// client never sees it. (A renewal is granted once the token is 30 s
	// old, the daemon's guard against minting in a loop.)
	w.emu.InjectFault(wsemu.Fault{Method: "GET", Path: "/api/2.0/preview/scim/v2/Me", Status: 401, Times: 1})
	before := w.emu.Requests("GET", "/api/2.0/preview/scim/v2/Me")
	if out, err := curlOut(t, "-f", u+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("GET after a 401: %v %s", err, out)
	}
	if n := w.emu.Requests("GET", "/api/2.0/preview/scim/v2/Me") - before; n != 2 {
		t.Errorf("%d requests for one GET that met a 401, want 2", n)
	}
	// A POST (a body the proxy does not keep) is not retried: the client
	// sees the 401.
	w.emu.InjectFault(wsemu.Fault{Method: "POST", Path: "/serving-endpoints/chat/completions", Status: 401, Times: 1})
	if out, _ := curlOut(t, "-w", "%{http_code}", "-X", "POST", "-d", `{"model":"m"}`, u+"/serving-endpoints/chat/completions"); !strings.HasSuffix(out, "401") {
		t.Errorf("POST meeting a 401: %s", out)
	}
	if audit := w.mustHelper("", "audit"); !strings.Contains(audit, "proxy") {
		t.Errorf("audit:\n%s", audit)
	}
	w.stopDaemon()
	w.startDaemon()
	if again := strings.TrimSpace(w.mustHelper("", "proxy", "-p", "prod", "--url")); again != u {
		t.Errorf("after a restart the proxy moved: %s then %s", u, again)
	}
	if list := w.mustHelper("", "proxy", "--list"); !strings.Contains(list, u) {
		t.Errorf("--list:\n%s", list)
	}
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(tok)
}

// A streamed completion arrives chunk by chunk (the first before the
// emulator writes the last), outlives the 10 s token it started with,
// and later requests go out with the renewed token.
func TestProxyStreams(t *testing.T) {
	w, u := proxyWorld(t, wsemu.WithServingChunkDelay(3*time.Second))
	req, _ := http.NewRequest("POST", u+"/serving-endpoints/m/invocations", strings.NewReader(`{"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var first time.Time
	var n int
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		n++
	}
	last := w.emu.ServingStats().LastChunkSent
	if n < 6 || first.IsZero() || !first.Before(last.Add(-10*time.Second)) {
		t.Fatalf("%d lines; first at %v, the last sent at %v: not streamed", n, first, last)
	}
	if out, err := curlOut(t, "-f", u+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("after a stream longer than the token: %v %s", err, out)
	}
}

// Another uid is refused at the connection.
func TestProxyOtherUIDRefused(t *testing.T) {
	requireTools(t, "setpriv")
	if os.Getuid() != 0 {
		t.Skip("setpriv --reuid needs root")
	}
	_, u := proxyWorld(t)
	out, _ := exec.Command("setpriv", "--reuid", "12345", "--regid", "12345", "--clear-groups", "curl", "-sS", u+"/api/2.0/preview/scim/v2/Me").CombinedOutput()
	if !strings.Contains(string(out), "serves only uid") {
		t.Errorf("uid 12345 through the proxy:\n%s", out)
	}
}
