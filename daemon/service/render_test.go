package service

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./daemon/service -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", name, path, got)
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// The default unit: no socket pinned, so it documents the default path.
func defaultUnit() Unit {
	return Unit{Executable: "/home/alice/.local/bin/dbx-credd", Env: serviceEnv(env("XDG_RUNTIME_DIR", "/run/user/1000"), false)}
}

func TestRenderSystemdDefault(t *testing.T) {
	got, err := RenderSystemd(defaultUnit())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dbx-credd.service.golden", got)
	for _, want := range []string{"\nWantedBy=default.target\n", "\nRestart=on-failure\n", "\nExecStart=/home/alice/.local/bin/dbx-credd run --started-by service\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(got, "Environment=") {
		t.Error("unit pins the environment although nothing was set at install time")
	}
}

// A socket set at install time is carried into the unit, and awkward paths
// are quoted the way systemd.syntax(7) reads them.
func TestRenderSystemdQuotesAndPinsTheSocket(t *testing.T) {
	u := Unit{Executable: "/opt/my tools/50%/dbx-credd$", Env: serviceEnv(env(
		"DBX_CRED_SOCKET", `/home/alice/run "x"/agent.sock`,
		"DBX_CRED_METADATA_LISTEN", "127.0.0.1:0",
		"TMPDIR", "/tmp/ignored-for-systemd"), false)}
	got, err := RenderSystemd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dbx-credd-socket.service.golden", got)
}

func TestRenderLaunchd(t *testing.T) {
	// As on a Mac: no XDG_RUNTIME_DIR, so the default socket is under
	// TMPDIR, which the agent must see with the shell's value.
	u := Unit{Executable: "/Users/alice/bin/dbx-credd", Label: LaunchdLabel,
		LogFile: "/Users/alice/Library/Logs/dbx-cred/dbx-credd.log",
		Env:     serviceEnv(env("TMPDIR", "/var/folders/x1/T/", "DBX_CRED_METADATA_LISTEN", "127.0.0.1:9000 & <more>"), true)}
	got, err := RenderLaunchd(u)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dbx-credd.plist.golden", got)
}

func TestRenderRefusesWhatCannotBeQuoted(t *testing.T) {
	for _, exe := range []string{"/bin/dbx\ncredd", "/bin/{{.Name}}/dbx-credd"} {
		if _, err := RenderSystemd(Unit{Executable: exe}); err == nil || !strings.Contains(err.Error(), "plainer path") {
			t.Errorf("RenderSystemd(%q) = %v, want a refusal", exe, err)
		}
		if _, err := RenderLaunchd(Unit{Executable: exe}); err == nil {
			t.Errorf("RenderLaunchd(%q) accepted it", exe)
		}
	}
}

func TestServiceEnvPinsTempDirOnlyWhenItDecidesTheSocket(t *testing.T) {
	cases := []struct {
		name string
		env  func(string) string
		want int
	}{
		{"macOS default", env("TMPDIR", "/var/folders/x"), 1},
		{"socket set", env("TMPDIR", "/var/folders/x", "DBX_CRED_SOCKET", "/s/agent.sock"), 1},
		{"runtime dir", env("TMPDIR", "/var/folders/x", "XDG_RUNTIME_DIR", "/run/user/1"), 0},
	}
	for _, c := range cases {
		if got := serviceEnv(c.env, true); len(got) != c.want {
			t.Errorf("%s: %v, want %d variables", c.name, got, c.want)
		}
	}
}

// systemd itself accepts the unit and finds the executable at an awkward
// path (spaces, %, $), where systemd-analyze is installed.
func TestSystemdAcceptsTheUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := filepath.Join(t.TempDir(), "my bin 50%")
	exe := filepath.Join(dir, "dbx-credd$")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	unit, err := RenderSystemd(Unit{Executable: exe, Env: []EnvVar{{"DBX_CRED_SOCKET", `/run/a "b"/agent.sock`}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dbx-credd.service")
	if err := os.WriteFile(path, []byte(unit), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, unit)
	}
	// And it would refuse a unit whose executable is missing, so the pass
	// above means it resolved the quoted path to the file.
	if err := os.Remove(exe); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput(); err == nil {
		t.Fatalf("systemd-analyze verify passed without the executable: %s", out)
	}
}
