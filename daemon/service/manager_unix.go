//go:build linux || darwin

package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	kservice "github.com/kardianos/service"
)

// Manager installs, starts, stops and reports on dbx-credd's per-user
// service through kardianos/service.
type Manager struct {
	sys       kservice.System
	available error // non-nil when this user has no service manager: why, and what to do instead
	kind      string
	path      string // the unit or plist
	name      string // kardianos's Name: the file's base name and launchd's label
	tool      string // what kardianos runs, for error messages
	unit      Unit
	render    func(Unit) (string, error)
	option    string // the kardianos option that takes our rendered file
	prepare   func() error
	leftovers []string // symlinks the manager's tool makes, removed when the tool cannot
}

// program satisfies kardianos's Interface. dbx-credd never runs under
// kardianos's Run: the service runs "dbx-credd run", which handles SIGTERM
// itself, so there is nothing to start or stop here.
type program struct{}

func (program) Start(kservice.Service) error { return nil }
func (program) Stop(kservice.Service) error  { return nil }

// findSystem picks one of kardianos's systems by name rather than letting
// it choose: on a Linux without systemd it would choose System V init and
// write to /etc/init.d, which is neither per-user nor what anyone asked for.
func findSystem(name string) (kservice.System, error) {
	for _, s := range kservice.AvailableSystems() {
		if s.String() == name {
			return s, nil
		}
	}
	return nil, fmt.Errorf("kardianos/service has no %q system on this OS (a build problem: report it)", name)
}

// service builds kardianos's view of the service; text is the rendered
// file, needed only to install.
func (m *Manager) service(text string) (kservice.Service, error) {
	opt := kservice.KeyValue{"UserService": true}
	if text != "" {
		opt[m.option] = text
	}
	svc, err := m.sys.New(program{}, &kservice.Config{
		Name:        m.name,
		DisplayName: Name,
		Description: "dbx-cred daemon: Databricks tokens from the OS keyring",
		Executable:  m.unit.Executable,
		Arguments:   []string{"run", "--started-by", "service"},
		Option:      opt,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the %s: %w", m.kind, err)
	}
	return svc, nil
}

// Describe names what Install writes, for messages.
func (m *Manager) Describe() string { return m.kind + " " + m.path }

func (m *Manager) installed() bool {
	_, err := os.Lstat(m.path)
	return err == nil
}

// Install writes the unit or plist and enables it; it does not start it.
// An existing one is replaced, so re-running install after moving the
// binary or changing DBX_CRED_SOCKET updates it.
func (m *Manager) Install() error {
	if m.available != nil {
		return m.available
	}
	text, err := m.render(m.unit)
	if err != nil {
		return err
	}
	if m.prepare != nil {
		if err := m.prepare(); err != nil {
			return err
		}
	}
	// kardianos refuses to overwrite a file; the previous one is ours.
	if err := os.Remove(m.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("replace %s: %w (remove it yourself and run install again)", m.path, err)
	}
	svc, err := m.service(text)
	if err != nil {
		return err
	}
	if err := svc.Install(); err != nil {
		if m.installed() {
			return fmt.Errorf("wrote %s, but %s could not enable it: %w; is your user's service manager running "+
				"(try \"%s status\")? Until it is, dbx-cred starts the daemon on first use", m.path, m.tool, err, m.tool)
		}
		return fmt.Errorf("install the %s %s: %w", m.kind, m.path, err)
	}
	return nil
}

// Uninstall stops the service and removes its file. When the service
// manager cannot be asked (not running, or gone), the files are removed
// anyway: they are ours, and a stale one would start an old binary at login.
func (m *Manager) Uninstall() error {
	if !m.installed() {
		return fmt.Errorf("the %s is not installed (no %s): nothing to remove", m.kind, m.path)
	}
	toolErr := m.available
	if toolErr == nil {
		svc, err := m.service("")
		if err != nil {
			return err
		}
		// A unit removed while running keeps running, unmanaged.
		_ = svc.Stop() // fails when it is not running, which is fine
		toolErr = svc.Uninstall()
	}
	if toolErr == nil {
		return nil
	}
	var errs []error
	for _, p := range append([]string{m.path}, m.leftovers...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s failed (%v) and the files could not be removed either: %w", m.tool, toolErr, errors.Join(errs...))
	}
	return nil
}

// Start asks the service manager to start the installed service now.
func (m *Manager) Start() error {
	svc, err := m.ready()
	if err != nil {
		return err
	}
	if err := svc.Start(); err != nil {
		return fmt.Errorf("%s could not start %s: %w; see \"dbx-credd status\" and the service's log", m.tool, m.name, err)
	}
	return nil
}

// Stop asks the service manager to stop the service; it stays installed
// and starts again at the next login.
func (m *Manager) Stop() error {
	svc, err := m.ready()
	if err != nil {
		return err
	}
	if err := svc.Stop(); err != nil {
		return fmt.Errorf("%s could not stop %s: %w", m.tool, m.name, err)
	}
	return nil
}

func (m *Manager) ready() (kservice.Service, error) {
	// Said first: "install it first" is no advice where nothing can be
	// installed.
	if m.available != nil && !m.installed() {
		return nil, m.available
	}
	if !m.installed() {
		return nil, fmt.Errorf("the %s is not installed (no %s): run \"dbx-credd install\" first", m.kind, m.path)
	}
	if m.available != nil {
		return nil, m.available
	}
	return m.service("")
}

// Status reports whether the service is installed and what its manager
// says about it.
func (m *Manager) Status() State {
	st := State{Kind: m.kind, Path: m.path}
	if m.available != nil {
		st.Unavailable = m.available.Error()
	}
	if !m.installed() {
		st.Running = "not installed"
		return st
	}
	st.Installed = true
	st.Enabled = true
	for _, l := range m.leftovers {
		if _, err := os.Lstat(l); err != nil {
			st.Enabled = false
		}
	}
	svc, err := m.ready()
	if err != nil {
		st.Running = "unknown: " + err.Error()
		return st
	}
	switch s, err := svc.Status(); {
	case err != nil:
		st.Running = fmt.Sprintf("unknown: %s says %v", m.tool, err)
	case s == kservice.StatusRunning:
		st.Running = "running"
	case s == kservice.StatusStopped:
		st.Running = "stopped"
	default:
		st.Running = "unknown"
	}
	return st
}
