package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	kservice "github.com/kardianos/service"
)

// detected is kardianos's real systemd system, told that systemd runs:
// Install then writes the unit for real and fails only when it runs
// systemctl, which the test keeps off PATH so no real user manager is
// touched.
type detected struct{ kservice.System }

func (detected) Detect() bool { return true }

func systemdForTest(t *testing.T) (m *Manager, home string) {
	t.Helper()
	sys, err := findSystem("linux-systemd")
	if err != nil {
		t.Fatal(err)
	}
	home = t.TempDir()
	t.Setenv("HOME", home)        // kardianos finds ~/.config/systemd/user through it
	t.Setenv("PATH", t.TempDir()) // no systemctl
	u := defaultUnit()
	return newSystemd(detected{sys}, u.Executable, home, env("XDG_RUNTIME_DIR", "/run/user/1000")), home
}

// The unit kardianos writes into ~/.config/systemd/user is exactly the
// golden one: our template reaches the disk unchanged, WantedBy included.
func TestInstallWritesTheGoldenUnit(t *testing.T) {
	m, home := systemdForTest(t)
	unitPath := filepath.Join(home, ".config", "systemd", "user", "dbx-credd.service")
	err := m.Install()
	if err == nil || !strings.Contains(err.Error(), "wrote "+unitPath+", but systemctl --user could not enable it") {
		t.Fatalf("Install = %v, want the unit written and enabling to fail (no systemctl)", err)
	}
	got, rerr := os.ReadFile(unitPath)
	if rerr != nil {
		t.Fatal(rerr)
	}
	golden(t, "dbx-credd.service.golden", string(got))

	// A second install replaces the unit rather than stopping at "exists".
	if err := m.Install(); err == nil || !strings.Contains(err.Error(), "wrote ") {
		t.Fatalf("second Install = %v", err)
	}
	st := m.Status()
	if !st.Installed || st.Path != unitPath || !strings.HasPrefix(st.Running, "unknown") {
		t.Errorf("Status = %+v, want installed with an unknown state (no systemctl)", st)
	}

	// Uninstall removes the unit and the enable symlink even though
	// systemctl cannot be asked.
	wants := filepath.Join(home, ".config", "systemd", "user", "default.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(unitPath, filepath.Join(wants, "dbx-credd.service")); err != nil {
		t.Fatal(err)
	}
	if err := m.Uninstall(); err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	for _, p := range []string{unitPath, filepath.Join(wants, "dbx-credd.service")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived Uninstall: %v", p, err)
		}
	}
	if st := m.Status(); st.Installed || st.Running != "not installed" {
		t.Errorf("Status after Uninstall = %+v", st)
	}
	if err := m.Start(); err == nil || !strings.Contains(err.Error(), `run "dbx-credd install" first`) {
		t.Errorf("Start when not installed = %v", err)
	}
}

// Without systemd, install refuses and says what to do instead; it never
// falls back to another init system (System V would write /etc/init.d).
func TestInstallWithoutSystemdRefuses(t *testing.T) {
	sys, err := findSystem("linux-systemd")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	m := newSystemd(undetected{sys}, "/bin/dbx-credd", home, env())
	err = m.Install()
	if err == nil || !strings.Contains(err.Error(), "dbx-cred starting it on first use") {
		t.Fatalf("Install = %v, want a refusal that names the alternatives", err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("Install wrote %v", entries)
	}
}

type undetected struct{ kservice.System }

func (undetected) Detect() bool { return false }

// Where systemd does not run, start and status do not send the user to
// install, which cannot work there: they say there is no service manager,
// and that dbx-cred starts the daemon on first use.
func TestNoServiceManagerIsNotAdviceToInstall(t *testing.T) {
	sys, err := findSystem("linux-systemd")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	m := newSystemd(undetected{sys}, defaultUnit().Executable, home, env("XDG_RUNTIME_DIR", "/run/user/1000"))
	if err := m.Start(); err == nil || strings.Contains(err.Error(), "dbx-credd install") || !strings.Contains(err.Error(), "first use") {
		t.Errorf("Start = %v", err)
	}
	if st := m.Status(); !strings.Contains(st.Unavailable, "systemd is not running") {
		t.Errorf("Status = %+v, want why there is no service manager", st)
	}
}
