package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// crashEnv and crashCode mirror daemon.CrashHookEnv and daemon.CrashExitCode
// (e2e drives the binaries and imports no daemon package).
const (
	crashEnv  = "DBX_CRED_TEST_CRASH_AT"
	crashCode = 99
)

// mintedInfos lists the minted (dbx-cred) tokens alive in the workspace.
func (w *world) mintedInfos() []wsemu.TokenInfo {
	var out []wsemu.TokenInfo
	for _, ti := range w.emu.LiveTokens(w.user) {
		if strings.HasPrefix(ti.Comment, "dbx-cred:") {
			out = append(out, ti)
		}
	}
	return out
}

// validToken runs dbx-cred token with args and fails unless it prints a
// token the workspace accepts that is not the root.
func (w *world) validToken(args ...string) string {
	w.t.Helper()
	tok := strings.TrimSpace(w.mustHelper("", append([]string{"token"}, args...)...))
	if tok == w.pat {
		w.t.Fatal("the root PAT was handed out")
	}
	if _, ok := w.emu.Authenticate(tok); !ok {
		w.t.Fatalf("dbx-cred token %v handed out a token the workspace refuses", args)
	}
	return tok
}

// keyringRoot reads the root the daemon keeps for profile, as any Secret
// Service client could.
func (w *world) keyringRoot(profile string) string {
	w.t.Helper()
	// While the daemon replaces a root, the old item is being deleted and
	// secret-tool may list it without its secret, or (between the delete
	// and the keyring's next answer) not at all: look again, briefly.
	var last error
	for range 20 {
		raw, ok := w.ss.lookup(profile)
		if !ok {
			last = fmt.Errorf("no keyring item for %s", profile)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var s struct {
			Token string `json:"token"`
		}
		if last = json.Unmarshal([]byte(raw), &s); last == nil && s.Token != "" {
			return s.Token
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.t.Fatalf("keyring item of %s: %v", profile, last)
	return ""
}

type profileStatus struct {
	Name              string    `json:"name"`
	RootExpiry        time.Time `json:"root_expiry"`
	RootExpiryWarning string    `json:"root_expiry_warning"`
}

func (w *world) profileStatus(name string) profileStatus {
	w.t.Helper()
	var st struct {
		Profiles []profileStatus `json:"profiles"`
	}
	if err := json.Unmarshal([]byte(w.mustHelper("", "status", "--json")), &st); err != nil {
		w.t.Fatal(err)
	}
	for _, p := range st.Profiles {
		if p.Name == name {
			return p
		}
	}
	w.t.Fatalf("status lists no profile %s", name)
	return profileStatus{}
}
