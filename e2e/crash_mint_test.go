package e2e

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// TestCrashInMintWindow kills the daemon (the test hook exits it, as kill -9
// would) right after a renewal's token/create answered but before the new
// token is persisted, and right after persisting but before the superseded
// token is revoked. Either way one token is an orphan no daemon holds; the
// restarted daemon's first clean-up pass must revoke it before it would
// have expired on its own, and clients must keep getting valid tokens.
func TestCrashInMintWindow(t *testing.T) {
	for _, point := range []string{"after-mint", "after-persist"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.env[crashEnv] = point
			w.startDaemon()
			// 20 s: the renewal (at 11-13 s) leaves the older token 6 s or
			// more, time enough to restart and prove it is revoked, not
			// merely expired.
			w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--token-lifetime", "20s", "--host", w.srv.URL)
			first := w.validToken("-p", "prod")
			firstInfo, _ := w.emu.TokenInfoOf(first)

			var err error
			select {
			case err = <-w.daemonExited:
			case <-time.After(30 * time.Second):
				t.Fatal("the daemon did not renew (and crash) within 30 s of a 20 s lifetime")
			}
			w.daemon = nil
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != crashCode {
				t.Fatalf("daemon exit: %v; want exit code %d from the hook\n%s", err, crashCode, w.daemonLog())
			}
			if !strings.Contains(w.daemonLog(), "test hook: exiting") {
				t.Fatalf("the daemon died, but not from the hook:\n%s", w.daemonLog())
			}

			live := w.mintedInfos()
			if len(live) != 2 {
				t.Fatalf("%d minted tokens live after the crash; want the first one and the new one", len(live))
			}
			// after-mint: the new token is the orphan (never persisted);
			// after-persist: the first one is (superseded, never revoked).
			var orphan wsemu.TokenInfo
			for _, ti := range live {
				if (ti.TokenID == firstInfo.TokenID) == (point == "after-persist") {
					orphan = ti
				}
			}
			if orphan.TokenID == "" {
				t.Fatalf("cannot tell the orphan among %+v", live)
			}
			orphanExpiry := time.UnixMilli(orphan.ExpiryTime)

			delete(w.env, crashEnv)
			w.startDaemon()
			deadline := time.Now().Add(10 * time.Second)
			for {
				live = w.mintedInfos()
				gone := !slices.ContainsFunc(live, func(ti wsemu.TokenInfo) bool { return ti.TokenID == orphan.TokenID })
				if gone && len(live) <= 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d minted tokens live 10 s after the restart (orphan revoked: %v)\n%s", len(live), gone, w.daemonLog())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if !time.Now().Before(orphanExpiry) {
				t.Fatal("the orphan expired before the clean-up could be seen to revoke it: the restart was too slow to prove anything")
			}
			tok := w.validToken("-p", "prod")
			if ti, _ := w.emu.TokenInfoOf(tok); ti.TokenID == orphan.TokenID {
				t.Fatal("the restarted daemon serves the orphan")
			}
		})
	}
}
