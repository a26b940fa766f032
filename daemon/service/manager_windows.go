package service

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// runKey is the per-user logon start list. A Windows service would run as
// LocalSystem, outside the user's logon session, and could not read the
// user's Credential Manager, which is where the tokens are.
const runKey = `Software\Microsoft\Windows\CurrentVersion\Run`

// Manager installs dbx-credd as a logon start of the current user.
type Manager struct {
	exe    string
	socket string // DBX_CRED_SOCKET at install time; "" for the default
	log    string
}

// New gives the Manager for the current user's Run key.
func New(getenv func(string) string) (*Manager, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the dbx-credd executable for the Run key: %w", err)
	}
	dir := getenv("LOCALAPPDATA")
	if dir == "" {
		return nil, errors.New("LOCALAPPDATA is not set, so there is nowhere to put the daemon's log: sign in to a normal user session")
	}
	return &Manager{exe: exe, socket: getenv(safesocket.EnvSocket), log: filepath.Join(dir, "dbx-cred", "dbx-credd.log")}, nil
}

// Describe names what Install writes, for messages.
func (m *Manager) Describe() string { return `logon start HKCU\` + runKey + `\` + Name }

// args are the daemon's arguments at logon and at Start. The Run key
// cannot set environment variables, so a socket chosen at install time
// goes on the command line. There is no console to write to: the daemon
// keeps its own log, which it moves aside as it grows (daemon/logfile);
// nothing else may hold that file open, or Windows refuses the move.
func (m *Manager) args() []string {
	args := []string{"run", "--started-by", "service", "--log-file", m.log}
	if m.socket != "" {
		args = append(args, "--socket", m.socket)
	}
	return args
}

// command is the Run value.
func (m *Manager) command() string {
	return windows.ComposeCommandLine(append([]string{m.exe}, m.args()...))
}

// Install adds dbx-credd to the programs Windows starts at this user's logon.
func (m *Manager) Install() error {
	k, _, err := registry.CreateKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf(`open HKCU\%s: %w`, runKey, err)
	}
	defer k.Close()
	if err := k.SetStringValue(Name, m.command()); err != nil {
		return fmt.Errorf(`write HKCU\%s\%s: %w`, runKey, Name, err)
	}
	return nil
}

// Uninstall removes the logon start; a running daemon keeps running.
func (m *Manager) Uninstall() error {
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.SET_VALUE)
	if err != nil {
		return fmt.Errorf(`open HKCU\%s: %w`, runKey, err)
	}
	defer k.Close()
	if err := k.DeleteValue(Name); err != nil {
		if errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf(`the logon start is not installed (no HKCU\%s\%s): nothing to remove`, runKey, Name)
		}
		return fmt.Errorf(`delete HKCU\%s\%s: %w`, runKey, Name, err)
	}
	return nil
}

// Start runs the daemon now, detached from this console, as the logon
// start would.
func (m *Manager) Start() error {
	cmd := exec.Command(m.exe, m.args()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.exe, err)
	}
	return cmd.Process.Release()
}

// Stop is not offered: without a service manager there is no handle on
// the daemon, and ending processes by name could hit another user's.
func (m *Manager) Stop() error {
	return errors.New(`"dbx-credd stop" is not supported on Windows: end dbx-credd.exe in Task Manager (Details tab), or sign out`)
}

// Status reports whether the logon start is installed; whether a daemon
// runs is for the caller to ask the socket.
func (m *Manager) Status() State {
	st := State{Kind: "logon start", Path: `HKCU\` + runKey + `\` + Name, Running: "not installed"}
	k, err := registry.OpenKey(registry.CURRENT_USER, runKey, registry.QUERY_VALUE)
	if err != nil {
		return st
	}
	defer k.Close()
	if _, _, err := k.GetStringValue(Name); err == nil {
		st.Installed = true
		st.Enabled = true
		st.Running = "starts at logon"
	}
	return st
}
