package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// TestRootRenewsItself: a workspace whose admins cap token lifetimes at 40 s
// (far below the 90 days dbx-cred asks for a root). login --adopt replaces
// the pasted token at once with a root that gets the workspace's maximum;
// that root then expires during the run and is replaced before it does,
// again and again, with the old one revoked each time, while dbx-cred token
// in a loop and a real Go SDK client on the metadata service keep working:
// no client sees a failure. Before, adopting failed on such a workspace (a
// create refused for its lifetime), and no root was ever replaced by itself.
func TestRootRenewsItself(t *testing.T) {
	const maxLife = 40 * time.Second
	w := newWorld(t, wsemu.WithMaxLifetime(maxLife))
	w.startDaemon()
	out := w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL, "--token-lifetime", "10s", "--adopt")
	if !strings.Contains(out, "still valid") || !strings.Contains(out, "Access tokens") || !strings.Contains(out, "replaces it by itself") {
		t.Fatalf("login --adopt does not say the pasted token is still valid, where to revoke it, and that the new root renews itself:\n%s", out)
	}
	if strings.Contains(out, w.pat) {
		t.Fatal("login --adopt printed the pasted token")
	}
	adopted := w.keyringRoot("prod")
	if adopted == w.pat {
		t.Fatal("login --adopt kept the pasted token")
	}
	// The pasted token's id is unknown: it is left to the user.
	if _, ok := w.emu.Authenticate(w.pat); !ok {
		t.Fatal("login --adopt revoked the pasted token")
	}
	info, ok := w.emu.TokenInfoOf(adopted)
	if !ok {
		t.Fatal("the adopted root is not a live token of the workspace")
	}
	if life := time.Duration(info.ExpiryTime-info.CreationTime) * time.Millisecond; life != maxLife {
		t.Fatalf("the adopted root lives %s, want the workspace maximum %s", life, maxLife)
	}
	st := w.autoStatus("prod")
	if st.AutoRotate != "on" || st.NextRootRotation == nil || st.NextRootRotation.After(st.RootExpiry) {
		t.Fatalf("status after adopt: %+v", st)
	}

	isolateSDK(t)
	url := strings.TrimSpace(w.mustHelper("", "metadata-url", "-p", "prod"))
	ws, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host: w.srv.URL, AuthType: "metadata-service", MetadataServiceURL: url, RetryTimeoutSeconds: 10,
	})
	if err != nil {
		t.Fatal(err)
	}

	// Past the adopted root's expiry and then some: at least two automatic
	// replacements (each at half a 40 s root's life).
	end := time.Now().Add(maxLife + 12*time.Second)
	var (
		mu       sync.Mutex
		failures []string
		calls    int
	)
	fail := func(f string) {
		mu.Lock()
		failures = append(failures, f)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a long-lived SDK client, never rebuilt
		defer wg.Done()
		for time.Now().Before(end) {
			me, err := ws.CurrentUser.Me(context.Background(), iam.MeRequest{})
			if err != nil || me.UserName != w.user {
				fail("SDK CurrentUser.Me: " + errString(err))
			}
			mu.Lock()
			calls++
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
		}
	}()
	roots := []string{adopted}
	for time.Now().Before(end) {
		tokOut, errOut, code := w.helper("", "token", "-p", "prod")
		tok := strings.TrimSpace(tokOut)
		switch _, ok := w.emu.Authenticate(tok); {
		case code != 0:
			fail("dbx-cred token: exit " + errOut)
		case !ok:
			fail("dbx-cred token handed out a token the workspace refuses")
		case tok == adopted || tok == w.pat:
			fail("a root was handed out")
		}
		if r := w.keyringRoot("prod"); r != roots[len(roots)-1] {
			roots = append(roots, r)
		}
		time.Sleep(300 * time.Millisecond)
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d client failures across automatic root rotations (%d SDK calls), first: %s", len(failures), calls, failures[0])
	}
	if len(roots) < 3 {
		t.Fatalf("%d automatic root replacements in %s of %s roots; want at least 2", len(roots)-1, maxLife+12*time.Second, maxLife)
	}
	t.Logf("%d automatic root replacements; %d SDK calls; no client failure", len(roots)-1, calls)
	for i, r := range roots[:len(roots)-1] {
		if _, ok := w.emu.Authenticate(r); ok {
			t.Fatalf("root %d is still valid after its replacement", i)
		}
	}
	last := roots[len(roots)-1]
	if info, ok := w.emu.TokenInfoOf(last); !ok || time.Duration(info.ExpiryTime-info.CreationTime)*time.Millisecond != maxLife {
		t.Fatalf("the current root is not live with the capped lifetime: %+v", info)
	}
	if st := w.autoStatus("prod"); st.RootRotationError != "" || st.NextRootRotation == nil {
		t.Fatalf("status after the run: %+v", st)
	}
	if !strings.Contains(w.daemonLog(), "root token replaced automatically") {
		t.Fatal("the daemon log does not record the automatic replacements")
	}
	w.stopDaemon()
	for _, s := range append(roots, w.pat) {
		w.assertNoSecretOnDisk(s)
	}
}

// A login without --adopt says how to let dbx-cred renew the root itself;
// --no-auto-rotate is recorded and shown; --adopt is refused where it means
// nothing.
func TestLoginSuggestsAdopting(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	out := w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", w.srv.URL)
	if !strings.Contains(out, "dbx-cred rotate -p prod") || !strings.Contains(out, "--adopt") {
		t.Fatalf("login without --adopt does not suggest adopting:\n%s", out)
	}
	w.mustHelper(w.pat+"\n", "login", "-p", "manual", "--host", w.srv.URL, "--adopt", "--no-auto-rotate")
	if st := w.autoStatus("manual"); st.AutoRotate != "off" || st.NextRootRotation != nil {
		t.Fatalf("--no-auto-rotate: status %+v", st)
	}
	if out := w.mustHelper("", "status", "-p", "manual"); !strings.Contains(out, "off (--no-auto-rotate)") {
		t.Fatalf("status text does not show --no-auto-rotate:\n%s", out)
	}
	if out, _, _ := w.helper("", "doctor", "-p", "manual"); !strings.Contains(out, "automatic rotation is off") {
		t.Fatalf("doctor does not say automatic rotation is off:\n%s", out)
	}
	if out, _, _ := w.helper("", "doctor", "-p", "manual"); strings.Contains(out, w.pat) {
		t.Fatal("doctor printed the pasted token")
	}
	if _, errOut, code := w.helper("", "login", "-p", "sp", "--host", w.srv.URL, "--client-id", "abc", "--adopt"); code != 64 || !strings.Contains(errOut, "--adopt") {
		t.Fatalf("--adopt with --client-id: exit %d: %s", code, errOut)
	}
}

type autoStatus struct {
	RootExpiry        time.Time  `json:"root_expiry"`
	AutoRotate        string     `json:"auto_rotate"`
	NextRootRotation  *time.Time `json:"next_root_rotation"`
	RootRotationError string     `json:"root_rotation_error"`
}

func (w *world) autoStatus(name string) autoStatus {
	w.t.Helper()
	var st struct {
		Profiles []struct {
			Name string `json:"name"`
			autoStatus
		} `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		w.t.Fatal(err)
	}
	for _, p := range st.Profiles {
		if p.Name == name {
			return p.autoStatus
		}
	}
	w.t.Fatalf("status lists no profile %s", name)
	return autoStatus{}
}

func errString(err error) string {
	if err == nil {
		return "wrong user"
	}
	return err.Error()
}
