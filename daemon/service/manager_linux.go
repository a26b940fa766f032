package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	kservice "github.com/kardianos/service"
)

// New gives the Manager for this user's systemd user manager. The unit runs
// this very dbx-credd executable.
func New(getenv func(string) string) (*Manager, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the dbx-credd executable for the unit's ExecStart: %w", err)
	}
	// kardianos puts user units under os.UserHomeDir(), so we look there too.
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("find your home directory (set HOME): %w", err)
	}
	sys, err := findSystem("linux-systemd")
	if err != nil {
		return nil, err
	}
	return newSystemd(sys, exe, home, getenv), nil
}

func newSystemd(sys kservice.System, exe, home string, getenv func(string) string) *Manager {
	userDir := filepath.Join(home, ".config", "systemd", "user")
	m := &Manager{
		sys:       sys,
		kind:      "systemd user unit",
		path:      filepath.Join(userDir, Name+".service"),
		name:      Name,
		tool:      "systemctl --user",
		unit:      Unit{Executable: exe, Env: serviceEnv(getenv, false)},
		render:    RenderSystemd,
		option:    "SystemdScript",
		leftovers: []string{filepath.Join(userDir, "default.target.wants", Name+".service")},
	}
	if !sys.Detect() {
		m.available = errors.New("systemd is not running here, so there is no user service manager to install into: " +
			"rely on dbx-cred starting it on first use (or start \"dbx-credd run\" from your session start-up), " +
			"and stop or restart whichever dbx-credd runs with \"dbx-cred daemon stop\" or \"dbx-cred daemon restart\"")
	}
	return m
}
