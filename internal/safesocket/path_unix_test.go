//go:build linux || darwin

package safesocket

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPath(t *testing.T) {
	tmp := filepath.Join(os.TempDir(), "dbx-cred-"+strconv.Itoa(os.Getuid()), "agent.sock")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"override wins", map[string]string{"DBX_CRED_SOCKET": "/x/s.sock", "XDG_RUNTIME_DIR": "/run/user/7"}, "/x/s.sock"},
		{"override may be relative", map[string]string{"DBX_CRED_SOCKET": "s.sock"}, "s.sock"},
		{"xdg runtime dir", map[string]string{"XDG_RUNTIME_DIR": "/run/user/7"}, "/run/user/7/dbx-cred/agent.sock"},
		{"relative xdg ignored", map[string]string{"XDG_RUNTIME_DIR": "run"}, tmp},
		{"empty override ignored", map[string]string{"DBX_CRED_SOCKET": "", "XDG_RUNTIME_DIR": "/run/user/7"}, "/run/user/7/dbx-cred/agent.sock"},
		{"temp dir fallback", nil, tmp},
	}
	// No /run/user/<uid> here, so the temp-dir fallback shows whatever
	// the machine running the test has.
	noRunUser := filepath.Join(t.TempDir(), "none")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			got := defaultPathIn(getenv, noRunUser)
			if p := getenv(EnvSocket); p != "" {
				got = Path(getenv)
			}
			if got != tt.want {
				t.Errorf("Path() = %q, want %q", got, tt.want)
			}
		})
	}
}

// Without XDG_RUNTIME_DIR, /run/user/<uid> is used when it is a private
// directory of ours: there the login session's daemon serves.
func TestPathRunUserWithoutXDG(t *testing.T) {
	tmp := filepath.Join(os.TempDir(), "dbx-cred-"+strconv.Itoa(os.Getuid()), "agent.sock")
	noEnv := func(string) string { return "" }
	base := t.TempDir()
	mine := filepath.Join(base, strconv.Itoa(os.Getuid()))

	if got := defaultPathIn(noEnv, base); got != tmp {
		t.Errorf("no /run/user/<uid>: Path() = %q, want %q", got, tmp)
	}
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := defaultPathIn(noEnv, base), filepath.Join(mine, "dbx-cred", "agent.sock"); got != want {
		t.Errorf("private /run/user/<uid>: Path() = %q, want %q", got, want)
	}
	if got, want := defaultPathIn(func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return "/run/user/7"
		}
		return ""
	}, base), "/run/user/7/dbx-cred/agent.sock"; got != want {
		t.Errorf("XDG_RUNTIME_DIR set: Path() = %q, want %q", got, want)
	}
	if err := os.Chmod(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := defaultPathIn(noEnv, base); got != tmp {
		t.Errorf("open /run/user/<uid>: Path() = %q, want the temp dir %q", got, tmp)
	}
	if err := os.Remove(mine); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), mine); err != nil {
		t.Fatal(err)
	}
	if got := defaultPathIn(noEnv, base); got != tmp {
		t.Errorf("symlinked /run/user/<uid>: Path() = %q, want the temp dir %q", got, tmp)
	}
}

func TestTarget(t *testing.T) {
	if got, want := Target("/run/user/7/dbx-cred/agent.sock"), "unix:///run/user/7/dbx-cred/agent.sock"; got != want {
		t.Errorf("Target(abs) = %q, want %q", got, want)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Target("s.sock"), "unix://"+filepath.Join(wd, "s.sock"); got != want {
		t.Errorf("Target(relative) = %q, want %q", got, want)
	}
	// gRPC dials the decoded URL.Path, so odd characters must round-trip.
	odd := "/tmp/a b/100%/x?y#z.sock"
	u, err := url.Parse(Target(odd))
	if err != nil || u.Scheme != "unix" || u.Host != "" || u.Path != odd {
		t.Errorf("Target(%q) = %q parses to scheme %q host %q path %q (err %v)", odd, Target(odd), u.Scheme, u.Host, u.Path, err)
	}
}
