package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	// A small POST body is kept, so it is retried too; an upload larger
	// than the proxy keeps (1 MiB) is not: its client sees the 401.
	w.emu.InjectFault(wsemu.Fault{Method: "POST", Path: "/serving-endpoints/chat/completions", Status: 401, Times: 1})
	if out, err := curlOut(t, "-f", "-X", "POST", "-d", `{"model":"m"}`, u+"/serving-endpoints/chat/completions"); err != nil || !strings.Contains(out, "chat.completion") {
		t.Errorf("small POST meeting a 401: %v %s", err, out)
	}
	big := filepath.Join(t.TempDir(), "two-mib")
	os.WriteFile(big, make([]byte, 2<<20), 0o600)
	w.emu.InjectFault(wsemu.Fault{Method: "PUT", Path: "/api/2.0/fs/files/Volumes/x", Status: 401, Times: 1})
	if out, _ := curlOut(t, "-w", "%{http_code}", "-T", big, u+"/api/2.0/fs/files/Volumes/x"); !strings.HasSuffix(out, "401") {
		t.Errorf("a 2 MiB upload meeting a 401: %s", out)
	}
	if audit := w.mustHelper("", "audit", "-o", "json"); !strings.Contains(audit, `"channel": "proxy"`) ||
		!strings.Contains(audit, `"request": "GET /api/2.0/preview/scim/v2/Me 200"`) || !strings.Contains(audit, `"request": "POST /serving-endpoints/chat/completions 200"`) {
		t.Errorf("audit:\n%s", audit)
	}
	// A restarted daemon serves the proxy again on its port, before anyone
	// asks: a tool keeps its base URL.
	w.stopDaemon()
	w.startDaemon()
	if out, err := curlOut(t, "-f", u+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("after a daemon restart: %v %s", err, out)
	}
	// A stopped one stays stopped across a restart, and keeps its port.
	w.mustHelper("", "proxy", "-p", "prod", "--stop")
	w.stopDaemon()
	w.startDaemon()
	if list := w.mustHelper("", "proxy", "--list"); !strings.Contains(list, "No proxies") {
		t.Errorf("a stopped proxy came back:\n%s", list)
	}
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

// openaiVersion is the openai npm package the test installs.
const openaiVersion = "4.104.0"

// npmOpenAI installs the openai package once per test binary into a
// temporary directory and returns it; "" with a NOTICE when npm is absent.
func npmOpenAI(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Printf("NOTICE: %s is not installed: the openai npm client test is skipped\n", tool)
			t.Skip(tool + " is missing")
		}
	}
	dir := filepath.Join(os.TempDir(), "dbx-cred-e2e-openai-"+openaiVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err == nil {
		return dir
	}
	os.MkdirAll(dir, 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, "openai@"+openaiVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install openai@%s: %v\n%s", openaiVersion, err, out)
	}
	return dir
}

const openaiScript = `
const OpenAI = require('openai');
const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: 'placeholder' });
(async () => {
  const r = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  console.log('FULL ' + r.choices[0].message.content);
  const s = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
  let text = '';
  for await (const chunk of s) {
    if (!text) console.log('FIRST ' + Date.now());
    text += (chunk.choices[0] && chunk.choices[0].delta && chunk.choices[0].delta.content) || '';
  }
  console.log('STREAM ' + text.trim());
})().catch((e) => { console.error(String(e)); process.exit(1); });
`

// The real openai npm client against model serving through the proxy,
// with a placeholder API key: a completion, and a streamed one whose first
// chunk arrives before the emulator has written its last.
func TestProxyOpenAIClient(t *testing.T) {
	mod := npmOpenAI(t)
	w, _ := proxyWorld(t, wsemu.WithServingChunkDelay(time.Second))
	env := w.mustHelper("", "proxy", "-p", "prod", "--env")
	base := ""
	for _, l := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(l, "export OPENAI_BASE_URL="); ok {
			base = v
		}
	}
	if !strings.HasSuffix(base, "/serving-endpoints") {
		t.Fatalf("proxy --env:\n%s", env)
	}
	script := filepath.Join(mod, "client.js")
	os.WriteFile(script, []byte(openaiScript), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "OPENAI_BASE_URL="+base)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FULL Hello from the emulated endpoint") || !strings.Contains(string(out), "STREAM Hello from the emulated endpoint") {
		t.Fatalf("node: %v\n%s\ndaemon log:\n%s", err, out, tail(w.daemonLog(), 40))
	}
	var firstMs int64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "FIRST "); ok {
			fmt.Sscan(v, &firstMs)
		}
	}
	last := w.emu.ServingStats().LastChunkSent
	if first := time.UnixMilli(firstMs); !first.Before(last.Add(-2 * time.Second)) {
		t.Errorf("the first chunk reached the client at %v, the last left the emulator at %v: not streamed", first, last)
	}
}

// A 200 MB upload and download through the proxy, with the daemon's peak
// memory growing by less than 32 MiB: bodies are streamed, not buffered.
func TestProxyLargeBodies(t *testing.T) {
	w, u := proxyWorld(t)
	const size = 200 << 20
	file := filepath.Join(t.TempDir(), "big.bin")
	f, _ := os.Create(file)
	h := sha256.New()
	io.Copy(io.MultiWriter(f, h), io.LimitReader(wsemu.FilePattern(), size))
	f.Close()
	hwm := func() int64 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.daemon.Process.Pid))
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
				return kb << 10
			}
		}
		t.Fatal("no VmHWM")
		return 0
	}
	curlOut(t, "-f", u+"/api/2.0/preview/scim/v2/Me") // warm: token, connections
	before := hwm()
	if out, err := curlOut(t, "-f", "-T", file, u+"/api/2.0/fs/files/Volumes/main/default/v/big.bin"); err != nil {
		t.Fatalf("upload: %v %s", err, out)
	}
	if n, sum, ok := w.emu.FileSHA256("Volumes/main/default/v/big.bin"); !ok || n != size || sum != hex.EncodeToString(h.Sum(nil)) {
		t.Fatalf("the workspace got %d bytes, sum %s", n, sum)
	}
	dl := filepath.Join(t.TempDir(), "down.bin")
	if out, err := curlOut(t, "-f", "-o", dl, u+"/api/2.0/fs/files/Volumes/main/default/v/big.bin"); err != nil {
		t.Fatalf("download: %v %s", err, out)
	}
	if st, err := os.Stat(dl); err != nil || st.Size() != size {
		t.Fatalf("downloaded %v", st)
	}
	grew := hwm() - before
	t.Logf("the daemon's peak memory grew by %d KiB (from %d MiB)", grew>>10, before>>20)
	if grew >= 32<<20 {
		t.Errorf("the daemon's peak memory grew by %d MiB moving 200 MB each way", grew>>20)
	}
}

// --path-secret: the URL carries an unguessable prefix, and the bare port
// answers nothing useful without it.
func TestProxyPathSecret(t *testing.T) {
	w, u := proxyWorld(t)
	su := strings.TrimSpace(w.mustHelper("", "proxy", "-p", "prod", "--path-secret", "--url"))
	prefix, ok := strings.CutPrefix(su, u+"/")
	if !ok || len(prefix) < 32 {
		t.Fatalf("--path-secret URL %q (plain %q)", su, u)
	}
	if out, err := curlOut(t, "-f", su+"/api/2.0/preview/scim/v2/Me"); err != nil || !strings.Contains(out, w.user) {
		t.Fatalf("with the prefix: %v %s", err, out)
	}
	if out, _ := curlOut(t, "-w", "%{http_code}", u+"/api/2.0/preview/scim/v2/Me"); !strings.HasSuffix(out, "404") {
		t.Errorf("without the prefix: %s", out)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
