package e2e

import (
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
)

// liveMinted counts the minted (dbx-cred) tokens alive in the workspace.
func (w *world) liveMinted() int {
	n := 0
	for _, ti := range w.emu.LiveTokens(w.user) {
		if strings.HasPrefix(ti.Comment, "dbx-cred:") {
			n++
		}
	}
	return n
}

// TestRotationSurvivesKill9 runs the real daemon with 10 s tokens: clients
// only ever get valid tokens across renewals, kill -9 and restarts; the
// clean-up leaves one minted token; a revoked root asks for login, and
// login heals it. (Hundreds of rotations run in daemon/tokensource on an
// accelerated clock.)
func TestRotationSurvivesKill9(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--token-lifetime", "10s", "--host", w.srv.URL)

	seen := map[string]bool{}
	maxLive := 0
	poll := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			out, errOut, code := w.helper("", "token", "-p", "prod")
			if code != 0 {
				t.Fatalf("token: exit %d: %s", code, errOut)
			}
			tok := strings.TrimSpace(out)
			if tok == w.pat {
				t.Fatal("the root PAT was handed out")
			}
			if _, ok := w.emu.Authenticate(tok); !ok {
				t.Fatalf("handed out a token the workspace refuses (expired or revoked)")
			}
			seen[tok] = true
			maxLive = max(maxLive, w.liveMinted())
		}
	}
	poll(12 * time.Second)
	if len(seen) < 2 {
		t.Fatalf("no renewal within 12 s of a 10 s lifetime (%d tokens seen)", len(seen))
	}
	if maxLive > 2 {
		t.Fatalf("%d minted tokens alive at once; at most 2 allowed", maxLive)
	}

	for i := range 3 {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Millisecond)
		w.daemon.Process.Signal(syscall.SIGKILL)
		<-w.daemonExited
		w.daemon = nil
		w.startDaemon()
		poll(time.Duration(1+i) * time.Second)
	}
	// Within one clean-up pass of the restart, one minted token is left.
	deadline := time.Now().Add(15 * time.Second)
	for w.liveMinted() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d minted tokens alive after restart and clean-up", w.liveMinted())
		}
		time.Sleep(100 * time.Millisecond)
	}
	poll(time.Second)

	// The root is revoked: the profile needs login, and says how.
	w.emu.RevokeToken(w.pat)
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, errOut, code := w.helper("", "token", "-p", "prod")
		if code == 4 && strings.Contains(errOut, "dbx-cred login -p prod") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never asked for login after the root was revoked: %d %q", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p := list(t, w)["prod"]; p.State != "needs-login" {
		t.Fatalf("state after revocation: %+v", p)
	}
	newRoot, _ := w.emu.CreatePAT(w.user, "root 2", 0, nil)
	w.mustHelper(newRoot+"\n", "login", "-p", "prod", "--token-lifetime", "10s", "--host", w.srv.URL)
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	if _, ok := w.emu.Authenticate(tok); !ok || tok == newRoot {
		t.Fatal("re-login did not heal the profile")
	}
	var st struct {
		Profiles []struct {
			Name          string `json:"name"`
			Mode          string `json:"mode"`
			CurrentExpiry string `json:"current_expiry"`
			NextRenewal   string `json:"next_renewal"`
		} `json:"profiles"`
	}
	if err := jsonUnmarshal(w.mustHelper("", "status", "--json"), &st); err != nil || len(st.Profiles) != 1 ||
		st.Profiles[0].Mode != "rotating" || st.Profiles[0].CurrentExpiry == "" || st.Profiles[0].NextRenewal == "" {
		t.Fatalf("status: %+v %v", st, err)
	}
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(newRoot)
	for tok := range seen {
		w.assertNoSecretOnDisk(tok)
	}
}
