package metadata

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hold takes a free port for the test and returns its address.
func hold(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// freeAddr is an address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func bind(t *testing.T, cfg BindConfig) (string, string, error) {
	t.Helper()
	var logs bytes.Buffer
	ln, err := Bind(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		return "", logs.String(), err
	}
	addr := ln.Addr().String()
	ln.Close() // a restart: the next Bind of the test finds it free
	return addr, logs.String(), nil
}

// TestBindExplicitPortTaken: an explicit --metadata-listen ADDR that is
// taken is an error naming it and the ways out; nothing moves.
func TestBindExplicitPortTaken(t *testing.T) {
	taken := hold(t)
	state := filepath.Join(t.TempDir(), StateFile)
	_, _, err := bind(t, BindConfig{Listen: taken, Preferred: freeAddr(t), StatePath: state})
	if err == nil || !strings.Contains(err.Error(), taken) || !strings.Contains(err.Error(), ListenFlag+" off") {
		t.Fatalf("explicit port taken: %v", err)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("a failed explicit bind wrote the state file: %v", err)
	}
}

// TestBindFirstStartRemembers: the automatic choice takes the preferred
// port when it is free, and remembers it (0600, no secret in it).
func TestBindFirstStartRemembers(t *testing.T) {
	preferred := freeAddr(t)
	state := filepath.Join(t.TempDir(), "cfg", StateFile)
	got, _, err := bind(t, BindConfig{Preferred: preferred, StatePath: state})
	if err != nil || got != preferred {
		t.Fatalf("first start = %q, %v; want the preferred %s", got, err, preferred)
	}
	if again, _, err := bind(t, BindConfig{Preferred: freeAddr(t), StatePath: state}); err != nil || again != preferred {
		t.Fatalf("restart = %q, %v; want the remembered %s", again, err, preferred)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("state file: %v %v", fi, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(state))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// TestBindPreferredTaken: 8471 belongs to the whole machine; when another
// user's daemon holds it at the first start, a free port is chosen, logged
// and kept at the next start even once the preferred one is free again.
func TestBindPreferredTaken(t *testing.T) {
	preferred := hold(t)
	state := filepath.Join(t.TempDir(), StateFile)
	got, logs, err := bind(t, BindConfig{Preferred: preferred, StatePath: state})
	if err != nil || got == preferred || !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("first start with the preferred port taken = %q, %v", got, err)
	}
	if !strings.Contains(logs, "default metadata port is taken") || !strings.Contains(logs, "remembered") || !strings.Contains(logs, got) {
		t.Fatalf("the choice is not logged:\n%s", logs)
	}
	if again, _, err := bind(t, BindConfig{Preferred: preferred, StatePath: state}); err != nil || again != got {
		t.Fatalf("restart = %q, %v; want the remembered %s", again, err, got)
	}
}

// TestBindRememberedTaken: a remembered port that is taken is reported
// (with the state file to remove) rather than silently moved, which would
// break every URL handed out.
func TestBindRememberedTaken(t *testing.T) {
	state := filepath.Join(t.TempDir(), StateFile)
	got, _, err := bind(t, BindConfig{Listen: "0", Preferred: DefaultListen, StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", got)
	if err != nil {
		t.Skipf("the port was taken by someone else in between: %v", err)
	}
	defer ln.Close()
	_, _, err = bind(t, BindConfig{Preferred: freeAddr(t), StatePath: state})
	if err == nil || !strings.Contains(err.Error(), got) || !strings.Contains(err.Error(), "remove "+state) {
		t.Fatalf("remembered port taken: %v", err)
	}
	if again, _, _ := bind(t, BindConfig{Listen: "0", StatePath: state}); again != "" {
		t.Fatalf("--metadata-listen 0 moved to %s instead of reporting the remembered port", again)
	}
}

// TestBindExplicitWins: an explicit port wins over the state file and does
// not replace it; 0 means "any free port, once, then remembered".
func TestBindExplicitWins(t *testing.T) {
	state := filepath.Join(t.TempDir(), StateFile)
	first, _, err := bind(t, BindConfig{Listen: "127.0.0.1:0", StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	if again, _, err := bind(t, BindConfig{Listen: "0", StatePath: state}); err != nil || again != first {
		t.Fatalf("--metadata-listen 0 restart = %q, %v; want %s", again, err, first)
	}
	explicit := freeAddr(t)
	if got, _, err := bind(t, BindConfig{Listen: explicit, StatePath: state}); err != nil || got != explicit {
		t.Fatalf("explicit = %q, %v", got, err)
	}
	if got, _ := loadState(state); got != first {
		t.Fatalf("the explicit port replaced the remembered one: %q", got)
	}
}

// TestBindUnreadableState: a state file that does not parse is not a
// reason to stop; the daemon chooses again and says so.
func TestBindUnreadableState(t *testing.T) {
	state := filepath.Join(t.TempDir(), StateFile)
	os.WriteFile(state, []byte("{nope"), 0o600)
	got, logs, err := bind(t, BindConfig{Listen: "0", StatePath: state})
	if err != nil || !strings.Contains(logs, "ignoring the remembered metadata port") {
		t.Fatalf("unreadable state: %q %v\n%s", got, err, logs)
	}
	if remembered, err := loadState(state); err != nil || remembered != got {
		t.Fatalf("state after the choice: %q %v, want %s", remembered, err, got)
	}
}
