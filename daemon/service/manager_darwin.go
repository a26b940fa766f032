package service

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	kservice "github.com/kardianos/service"
)

// New gives the Manager for this user's launchd agents. The agent runs this
// very dbx-credd executable.
func New(getenv func(string) string) (*Manager, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the dbx-credd executable for the agent's ProgramArguments: %w", err)
	}
	// kardianos writes the plist under user.Current's home, ignoring HOME;
	// looking in the same place keeps status and uninstall on that file.
	home := ""
	if u, err := user.Current(); err == nil {
		home = u.HomeDir
	} else if home, err = os.UserHomeDir(); err != nil {
		return nil, fmt.Errorf("find your home directory (set HOME): %w", err)
	}
	sys, err := findSystem("darwin-launchd")
	if err != nil {
		return nil, err
	}
	return newLaunchd(sys, exe, home, getenv), nil
}

// LogFile is where the agent's output goes; dbx-cred's autostart writes
// to the same file, so there is one place to look.
func LogFile(home string) string {
	return filepath.Join(home, "Library", "Logs", "dbx-cred", "dbx-credd.log")
}

func newLaunchd(sys kservice.System, exe, home string, getenv func(string) string) *Manager {
	logFile := LogFile(home)
	return &Manager{
		sys:    sys,
		kind:   "launchd agent",
		path:   filepath.Join(home, "Library", "LaunchAgents", LaunchdLabel+".plist"),
		name:   LaunchdLabel,
		tool:   "launchctl",
		unit:   Unit{Executable: exe, Env: serviceEnv(getenv, true), Label: LaunchdLabel, LogFile: logFile},
		render: RenderLaunchd,
		option: "LaunchdConfig",
		// launchd does not create the log's directory, and the log names
		// profiles and hosts: private to the user.
		prepare: func() error {
			if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil {
				return fmt.Errorf("create the log directory for the launchd agent: %w", err)
			}
			return nil
		},
	}
}
