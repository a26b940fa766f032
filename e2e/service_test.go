package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/service"
)

// systemdWords splits a unit file value the way systemd.syntax(7) does, for
// what our template writes: double quotes with \" and \\, and %% for %.
func systemdWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case ch == '"':
			quoted, inWord = !quoted, true
		case !quoted && (ch == ' ' || ch == '\t'):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '%':
			if i+1 >= len(s) || s[i+1] != '%' {
				t.Fatalf("unexpected specifier in %q", s)
			}
			i++
			w.WriteByte('%')
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// The unit "dbx-credd install" writes really serves: its ExecStart, run
// with its Environment= lines and the world's session environment (what a
// user manager gives its services), is a daemon the real helper gets a
// token from. The executable sits at a path that needs quoting.
func TestUnitExecStartServesTokens(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Join(w.root, "my bin 50%")
	exe := filepath.Join(dir, "dbx-credd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, built.daemon, exe)
	sock := filepath.Join(w.root, "run", "svc dir", "agent.sock")
	unit, err := service.RenderSystemd(service.Unit{Executable: exe, Env: []service.EnvVar{{Name: "DBX_CRED_SOCKET", Value: sock}}})
	if err != nil {
		t.Fatal(err)
	}
	var argv, env []string
	for line := range strings.Lines(unit) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			argv = systemdWords(t, v)
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			env = append(env, systemdWords(t, v)...)
		}
	}
	if len(argv) != 4 || argv[0] != exe || argv[1] != "run" || argv[2] != "--started-by" || argv[3] != "service" {
		t.Fatalf("ExecStart parses to %q, want [%s run --started-by service]:\n%s", argv, exe, unit)
	}
	if len(env) != 1 || env[0] != "DBX_CRED_SOCKET="+sock {
		t.Fatalf("Environment parses to %q:\n%s", env, unit)
	}

	// The helper finds the daemon through the same variable.
	w.env["DBX_CRED_SOCKET"] = sock
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(w.environ(), env...)
	logPath := filepath.Join(w.root, "logs", "unit.log")
	lg, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	cmd.Stdout, cmd.Stderr = lg, lg
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if out, _, code := w.helper("", "status", "--json"); code == 0 && strings.Contains(out, fmt.Sprintf(`"pid": %d,`, cmd.Process.Pid)) {
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the unit's daemon exited (%v):\n%s", err, b)
		case <-ctx.Done():
			t.Fatal("the unit's daemon did not serve within 10s")
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.login("prod")
	tok := strings.TrimSpace(w.mustHelper("", "token", "-p", "prod"))
	if user, ok := w.emu.Authenticate(tok); !ok || user != w.user {
		t.Fatalf("token from the unit's daemon: authenticates as %q, %v", user, ok)
	}
	// systemctl stop sends SIGTERM: a clean exit, so Restart=on-failure
	// leaves it stopped.
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the unit's daemon exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the unit's daemon did not stop within 10s of SIGTERM")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
