// Package testworld starts what the end-to-end tests (e2e/) and the
// benchmarks (bench/) both run against: a private D-Bus session bus and an
// unlocked gnome-keyring on it, a real Secret Service that touches nothing
// of the user's. It is for tests only, and Linux only in practice (it runs
// dbus-daemon, gnome-keyring-daemon and gdbus).
package testworld

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Tools are the programs StartSecretService needs on PATH (Debian
// packages dbus, gnome-keyring and libglib2.0-bin; make test-deps).
var Tools = []string{"dbus-daemon", "gnome-keyring-daemon", "gdbus"}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  %s
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartBus starts a dbus-daemon listening in dir and returns its address
// and how to stop it. withServiceDirs lets it activate services (such as
// gnome-keyring's prompter) the way a desktop session does.
func StartBus(dir string, withServiceDirs bool) (addr string, stop func(), err error) {
	dirs := ""
	if withServiceDirs {
		dirs = "<standard_session_servicedirs/>"
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, dir, dirs), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start dbus-daemon: %w", err)
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("dbus-daemon printed no address: %w", err)
	}
	return strings.TrimSpace(line), stop, nil
}

// StartSecretService starts a bus and an unlocked gnome-keyring on it,
// both keeping their state under dir, and returns the bus address once the
// keyring serves org.freedesktop.secrets.
func StartSecretService(dir string) (addr string, stop func(), err error) {
	for _, d := range []string{dir, dir + "/run", dir + "/data"} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", nil, err
		}
	}
	addr, stopBus, err := StartBus(dir, true)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DBUS_SESSION_BUS_ADDRESS=" + addr,
		"XDG_RUNTIME_DIR=" + dir + "/run", "XDG_DATA_HOME=" + dir + "/data"}
	cmd.Stdin = strings.NewReader("testpass")
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		stopBus()
		return "", nil, fmt.Errorf("start gnome-keyring-daemon: %w", err)
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait(); stopBus() }
	for deadline := time.Now().Add(10 * time.Second); !HasName(addr, "org.freedesktop.secrets"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("gnome-keyring did not take org.freedesktop.secrets within 10s")
		}
	}
	return addr, stop, nil
}

// Gdbus runs "gdbus call --session args..." on the bus at addr.
func Gdbus(addr string, args ...string) (string, error) {
	cmd := exec.Command("gdbus", append([]string{"call", "--session"}, args...)...)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+addr)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// HasName reports whether someone owns name on the bus at addr.
func HasName(addr, name string) bool {
	out, err := Gdbus(addr, "--dest", "org.freedesktop.DBus", "--object-path", "/org/freedesktop/DBus",
		"--method", "org.freedesktop.DBus.NameHasOwner", name)
	return err == nil && strings.Contains(out, "true")
}
