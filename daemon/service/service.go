// Package service installs dbx-credd as a service of the current user, so it
// starts at login and restarts when it fails: a systemd user unit on Linux, a
// launchd agent on macOS (both through github.com/kardianos/service, with our
// own templates), and a logon start in the user's Run key on Windows, where a
// Windows service would run as LocalSystem and not see the user's
// Credential Manager.
//
// The templates live in templates/ and are rendered here with text/template
// before kardianos/service sees them, so the exact files can be tested on
// every OS, not only on the one whose service manager they are for.
package service

import (
	"bytes"
	_ "embed"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// Name is the service's name: the systemd unit is Name+".service".
const Name = "dbx-credd"

// LaunchdLabel is the launchd agent's label and plist name: launchd wants
// reverse-DNS labels, and ~/Library/LaunchAgents is shared by every vendor.
const LaunchdLabel = "io.github.dbx-cred.dbx-credd"

// EnvMetadataListen is read by "dbx-credd run" as the default of
// --metadata-listen; install carries it into the service like DBX_CRED_SOCKET.
const EnvMetadataListen = "DBX_CRED_METADATA_LISTEN"

var (
	//go:embed templates/dbx-credd.service.tmpl
	systemdTemplate string
	//go:embed templates/dbx-credd.plist.tmpl
	launchdTemplate string
)

// EnvStore is read by "dbx-credd run" as the default of --store (auto, os,
// file, keyctl); install carries it into the service, so a headless
// machine's service uses the store chosen in the installing shell.
const EnvStore = "DBX_CRED_STORE"

// EnvVar is one variable the service sets for the daemon.
type EnvVar struct{ Name, Value string }

// Unit is what a service definition says about dbx-credd.
type Unit struct {
	Executable string   // absolute path of dbx-credd; the service runs it with "run"
	Env        []EnvVar // what the daemon must see that the service manager would not pass on
	Label      string   // launchd only
	LogFile    string   // launchd only: where stdout and stderr go
}

// HasSocket reports whether the unit pins the socket path; the systemd
// template documents the default otherwise.
func (u Unit) HasSocket() bool {
	for _, e := range u.Env {
		if e.Name == safesocket.EnvSocket {
			return true
		}
	}
	return false
}

// serviceEnv picks the variables from the installing shell that decide where
// the daemon serves. A service manager starts the daemon with its own, bare
// environment, so a DBX_CRED_SOCKET set only in the user's shell would make
// the helper and the daemon look in different places. withTempDir is for
// launchd: without XDG_RUNTIME_DIR the default socket sits under $TMPDIR,
// which launchd need not give its agents the value the user's shell has.
func serviceEnv(getenv func(string) string, withTempDir bool) []EnvVar {
	var env []EnvVar
	for _, name := range []string{safesocket.EnvSocket, EnvMetadataListen, EnvStore} {
		if v := getenv(name); v != "" {
			env = append(env, EnvVar{name, v})
		}
	}
	if withTempDir && getenv(safesocket.EnvSocket) == "" && getenv("XDG_RUNTIME_DIR") == "" {
		if v := getenv("TMPDIR"); v != "" {
			env = append(env, EnvVar{"TMPDIR", v})
		}
	}
	return env
}

// RenderSystemd gives the systemd user unit for u.
func RenderSystemd(u Unit) (string, error) {
	return render("systemd unit", systemdTemplate, u, template.FuncMap{
		"execWord": systemdWord,
		"envWord":  func(e EnvVar) string { return systemdWord(e.Name + "=" + e.Value) },
	})
}

// RenderLaunchd gives the launchd agent's plist for u.
func RenderLaunchd(u Unit) (string, error) {
	return render("launchd plist", launchdTemplate, u, template.FuncMap{
		"xml": func(s string) string {
			var b bytes.Buffer
			_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer never fails
			return b.String()
		},
	})
}

func render(what, text string, u Unit, funcs template.FuncMap) (string, error) {
	if err := u.check(); err != nil {
		return "", fmt.Errorf("render the %s: %w", what, err)
	}
	t, err := template.New(what).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse the %s template: %w", what, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, u); err != nil {
		return "", fmt.Errorf("render the %s: %w", what, err)
	}
	return b.String(), nil
}

// check refuses what no quoting makes safe: control characters would end a
// unit file's line, and "{{" would be read as a template a second time by
// kardianos/service, which renders the text we hand it.
func (u Unit) check() error {
	fields := []string{u.Executable, u.Label, u.LogFile}
	for _, e := range u.Env {
		fields = append(fields, e.Name, e.Value)
	}
	for _, f := range fields {
		if strings.ContainsFunc(f, unicode.IsControl) || strings.Contains(f, "{{") {
			return fmt.Errorf("%q contains a control character or \"{{\": move dbx-credd (or the socket) to a plainer path", f)
		}
	}
	return nil
}

// systemdWord quotes s as one word of a unit file line (systemd.syntax(7)):
// % starts a specifier everywhere, so it is doubled; a word with spaces,
// quotes or backslashes is quoted. $ is left alone: systemd expands
// variables in ExecStart's arguments but not in the executable's path
// (systemd-analyze verify confirms it), and Environment= never expands them.
func systemdWord(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	plain := s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`"'\;`, r)
	})
	if plain {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// State is what status reports about the service.
type State struct {
	Kind      string // e.g. "systemd user unit"
	Path      string // where its definition lives
	Installed bool
	// Enabled: it starts at login (systemd: the default.target.wants link
	// exists; launchd and the Run key start whatever is installed).
	Enabled bool
	Running string // "running", "stopped", or why it is not known
	// Unavailable says why this user has no service manager to install
	// into (a container without systemd); "" where there is one. Then
	// dbx-cred's start on first use is how the daemon runs.
	Unavailable string
}

// DaemonAnswers reports whether something accepts connections on the
// socket, whoever started it: the service, dbx-cred on first use, or a user.
func DaemonAnswers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
