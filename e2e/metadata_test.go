package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	agentgrpc "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1grpc"
)

// agent dials the daemon's socket directly, as any gRPC client could.
func (w *world) agent() agentgrpc.AgentServiceClient {
	w.t.Helper()
	conn, err := grpc.NewClient("unix://"+w.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { conn.Close() })
	return agentgrpc.NewAgentServiceClient(conn)
}

// isolateSDK keeps the machine's ~/.databrickscfg and DATABRICKS_* variables
// out of the SDK's configuration, so only what the test sets is used.
func isolateSDK(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DATABRICKS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("DATABRICKS_CONFIG_FILE", filepath.Join(home, "no-such-databrickscfg"))
}

// sdkMe runs the real Go SDK with auth type metadata-service against the
// emulator: the SDK fetches its token from url (at configure time), then
// calls SCIM Me with it.
func sdkMe(t *testing.T, w *world, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host:                w.srv.URL,
		AuthType:            "metadata-service",
		MetadataServiceURL:  url,
		RetryTimeoutSeconds: 20,
	})
	if err != nil {
		t.Fatalf("NewWorkspaceClient with the metadata service: %v", err)
	}
	me, err := ws.CurrentUser.Me(ctx, iam.MeRequest{})
	if err != nil {
		t.Fatalf("CurrentUser.Me through the metadata service: %v", err)
	}
	if me.UserName != w.user {
		t.Fatalf("Me = %q, want %q", me.UserName, w.user)
	}
}

// rawGet sends a metadata-service request; mod changes it before sending.
func rawGet(t *testing.T, url, wsHost string, mod func(*http.Request)) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Databricks-Metadata-Version", "1")
	req.Header.Set("X-Databricks-Host", wsHost)
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func secretOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

func TestMetadataServiceServesTheGoSDK(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	isolateSDK(t)
	ctx := context.Background()
	agent := w.agent()

	st, err := agent.Status(ctx, &pb.StatusRequest{})
	if err != nil || !strings.HasPrefix(st.GetMetadataListen(), "http://127.0.0.1:") {
		t.Fatalf("status metadata_listen = %q, %v", st.GetMetadataListen(), err)
	}
	url := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod"))
	resp, err := agent.MetadataURL(ctx, &pb.MetadataURLRequest{Profile: "prod"})
	if err != nil || resp.GetUrl() != url || resp.GetHost() != w.srv.URL || !strings.HasPrefix(url, st.GetMetadataListen()+"/") {
		t.Fatalf("MetadataURL = %v, %v; helper printed %q", resp, err, url)
	}
	if len(secretOf(url)) != 43 {
		t.Fatalf("the secret path %q is not 32 random bytes in base64url", secretOf(url))
	}
	var secrets []string

	// Each step changes something, then a fresh SDK client must work. Token
	// rotation becomes one more step once the manager rotates.
	steps := []struct {
		name   string
		change func()
	}{
		{"first use", func() {}},
		{"URL rotated", func() {
			old := url
			r, err := agent.MetadataURL(ctx, &pb.MetadataURLRequest{Profile: "prod", Rotate: true})
			if err != nil || r.GetUrl() == old {
				t.Fatalf("rotate: %v, %v", r, err)
			}
			url = r.GetUrl()
			if code := rawGet(t, old, w.srv.URL, nil); code != 404 {
				t.Fatalf("the old URL answered %d after rotation, want 404", code)
			}
		}},
		{"daemon restarted", func() {
			w.stopDaemon()
			w.startDaemon()
			agent = w.agent()
			next := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod"))
			// The port is any free one in tests; the path is what persists.
			if secretOf(next) != secretOf(url) {
				t.Fatal("the URL's secret path changed across a restart")
			}
			url = next
		}},
	}
	for _, s := range steps {
		s.change()
		secrets = append(secrets, secretOf(url))
		t.Run(s.name, func(t *testing.T) { sdkMe(t, w, url) })
	}

	// The protocol's refusals, over the real listener.
	if code := rawGet(t, url, w.srv.URL, func(r *http.Request) { r.Header.Del("X-Databricks-Metadata-Version") }); code != 400 {
		t.Errorf("no version header: %d", code)
	}
	if code := rawGet(t, url, "https://other.cloud.databricks.com", nil); code != 403 {
		t.Errorf("other workspace: %d", code)
	}
	if code := rawGet(t, url, w.srv.URL, func(r *http.Request) { r.Host = "rebound.example" }); code != 421 {
		t.Errorf("foreign Host header: %d", code)
	}

	// The audit trail has the SDK's fetches and the helper's token.
	w.mustHelper("", "token", "-p", "prod")
	var events []struct {
		Profile string `json:"profile"`
		Channel string `json:"channel"`
		PeerUID int    `json:"peer_uid"`
		PeerPID int    `json:"peer_pid"`
		PeerExe string `json:"peer_exe"`
		Kind    string `json:"kind"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "audit", "--json")), &events); err != nil {
		t.Fatal(err)
	}
	var sawMeta, sawToken bool
	self, _ := os.Executable()
	for _, e := range events {
		switch {
		case e.Channel == "metadata" && e.Profile == "prod" && e.PeerUID == os.Getuid() && e.Kind != "" && e.Kind != "unspecified":
			sawMeta = true
			// The pid is looked for within a time budget: 0 when not found
			// in time, but never another process.
			if e.PeerPID != 0 && (e.PeerPID != os.Getpid() || e.PeerExe != self) {
				t.Errorf("metadata event names pid %d (%s), want this test, %d (%s)", e.PeerPID, e.PeerExe, os.Getpid(), self)
			}
		case e.Channel == "token" && e.PeerPID > 0 && e.PeerExe == built.helper:
			sawToken = true
		}
	}
	if !sawMeta || !sawToken {
		t.Fatalf("audit lacks the metadata or token hand-out: %+v", events)
	}
	if n := len(strings.Split(strings.TrimSpace(w.mustHelper("", "audit", "-n", "1")), "\n")); n != 2 {
		t.Fatalf("audit -n 1 printed %d lines, want header + 1", n)
	}

	// Logging out drops the URL: from memory at once, and from the keyring.
	w.mustHelper("", "logout", "-p", "prod")
	if code := rawGet(t, url, w.srv.URL, nil); code != 404 {
		t.Fatalf("URL of a logged-out profile: %d", code)
	}
	if _, ok := w.ss.lookup("[metadata]prod"); ok {
		t.Fatal("logout left the metadata URL's keyring item")
	}

	log := w.daemonLog()
	if !strings.Contains(log, `msg="token served"`) || !strings.Contains(log, "channel=metadata") {
		t.Fatalf("no audit line in the daemon log:\n%s", log)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
	for _, s := range secrets {
		w.assertNoSecretOnDisk(s)
	}
}

func TestMetadataServiceRefusesOtherUsers(t *testing.T) {
	requireTools(t, "setpriv", "curl")
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another uid")
	}
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	url := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod"))
	curl := func(prefix ...string) string {
		args := append(prefix, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
			"-H", "X-Databricks-Metadata-Version: 1", "-H", "X-Databricks-Host: "+w.srv.URL, url)
		out, err := exec.Command(args[0], args[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return string(out)
	}
	if got := curl(); got != "200" {
		t.Fatalf("our own uid got %s", got)
	}
	// Knowing the URL is not enough for another user.
	if got := curl("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"); got != "403" {
		t.Fatalf("uid 65534 got %s, want 403", got)
	}
	if log := w.daemonLog(); !strings.Contains(log, "refused a connection from another user") || !strings.Contains(log, "peer_uid=65534") {
		t.Fatalf("the refusal is not in the daemon log:\n%s", log)
	}
}

func TestMetadataListenOff(t *testing.T) {
	w := newWorld(t)
	// Off: no listener, and the RPC says so.
	w.startDaemon("--metadata-listen", "off")
	w.login("prod")
	st, err := w.agent().Status(context.Background(), &pb.StatusRequest{})
	if err != nil || st.GetMetadataListen() != "" || st.GetMetadataError() != "" {
		t.Fatalf("status with the service off: %v %v", st, err)
	}
	if out := w.mustHelper("", "status"); !strings.Contains(out, "metadata:  off") {
		t.Fatalf("dbx-cred status with the service off:\n%s", out)
	}
	if _, errOut, code := w.helper("", "metadata-url", "-p", "prod"); code == 0 || !strings.Contains(errOut, "metadata service is off") {
		t.Fatalf("metadata-url with the service off: %d %q", code, errOut)
	}
}
