package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFile: with --log-file the daemon logs to a private file of its
// own, hand-outs included, and a daemon that cannot start says why there
// as well as on stderr (a launchd agent's or logon start's stderr may go
// nowhere anyone looks).
func TestLogFile(t *testing.T) {
	w := newWorld(t)
	logPath := filepath.Join(w.root, "state", "d.log")
	w.startDaemon("--log-file", logPath)
	w.login("prod")
	w.mustHelper("", "token", "-p", "prod")

	fi, err := os.Stat(logPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the log file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(logPath)
	for _, want := range []string{"dbx-credd serving", "token served"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the log file lacks %q:\n%s", want, b)
		}
	}

	second := filepath.Join(w.root, "state", "second.log")
	cmd := exec.Command(built.daemon, "run", "--metadata-listen", "off", "--log-file", second)
	cmd.Env = w.environ()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "already serving") {
		t.Fatalf("second daemon: %v: %s", err, out)
	}
	if b, _ := os.ReadFile(second); !strings.Contains(string(b), "already serving") {
		t.Errorf("the second daemon's log file does not say why it stopped:\n%s", b)
	}

	// A log file that cannot be opened: exit 1 and the reason, at once.
	cmd = exec.Command(built.daemon, "run", "--log-file", filepath.Join(logPath, "x.log"))
	cmd.Env = w.environ()
	out, err = cmd.CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "--log-file") {
		t.Fatalf("unusable --log-file: %v: %s", err, out)
	}
	w.assertNoSecretOnDisk(w.pat)
}
