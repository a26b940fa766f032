package helper

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/helper/client"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
)

// envNoAutostart turns autostart off, for users who run the daemon under a
// supervisor of their own and would rather see "not running" (exit 2).
const envNoAutostart = "DBX_CRED_NO_AUTOSTART"

// autostartWait bounds the wait for a daemon we started. It serves within
// tens of milliseconds; the rest is headroom for a loaded machine.
const autostartWait = 3 * time.Second

// exitAlreadyServing is dbx-credd run's status when another daemon holds the
// socket's lock: at a cold start raced by several helpers, all but one
// daemon exit with it, and the helpers use the winner.
const exitAlreadyServing = 3

// maxLogSize is when the autostart log is moved aside (to .1) before a
// start; the daemon, given --log-file, does the same while it runs
// (daemon/logfile.DefaultMax, which this matches).
const maxLogSize = 8 << 20

// autostartAllowed: the user did not turn autostart off.
func (c *cli) autostartAllowed() bool {
	v := c.io.Getenv(envNoAutostart)
	return v == "" || v == "0"
}

// autostart starts "dbx-credd run" on socket, detached from us and from
// the terminal, and waits until something answers there. Helpers racing at
// a cold start each start one; the socket's lock lets one serve and the
// others exit at once, and every helper then finds the winner.
func (c *cli) autostart(socket string) error {
	if client.Answers(socket) {
		return nil // another helper's daemon came up meanwhile
	}
	// A directory someone else made or opened up is not where our daemon
	// should serve (it would refuse it anyway): say so, start nothing.
	if abs, err := filepath.Abs(socket); err == nil {
		if err := safesocket.CheckDir(filepath.Dir(abs)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if terr := client.Untrusted(err); terr != nil {
				return terr
			}
		}
	}
	logPath := filepath.Join(stateDir(c.io.Getenv), "dbx-credd.log")
	notRunning := func(format string, a ...any) error {
		return &exitError{code: exitNoDaemon, msg: fmt.Sprintf("dbx-credd is not running on %s and starting it failed: %s; "+
			"start it yourself with \"dbx-credd run &\" (or \"dbx-credd install\" and \"dbx-credd start\"), "+
			"or set DBX_CRED_SOCKET if it serves elsewhere", socket, fmt.Sprintf(format, a...))}
	}
	exe, err := findDaemon()
	if err != nil {
		return notRunning("%v", err)
	}
	lg, offset, err := openLog(logPath)
	if err != nil {
		return notRunning("%v", err)
	}
	// The socket is passed explicitly so the daemon serves exactly where
	// this helper looks, whatever its environment says. The daemon keeps
	// its own log (--log-file) so it can move it aside as it grows; its
	// stderr, the same file, catches what comes before that.
	cmd := exec.Command(exe, "run", "--started-by", "autostart", "--socket", socket, "--log-file", logPath)
	cmd.Env = daemonEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = lg, lg // stdin stays /dev/null
	detach(cmd)
	err = cmd.Start()
	lg.Close() // the child holds its own copy
	if err != nil {
		return notRunning("run %s: %v", exe, err)
	}
	exited := make(chan int, 1)
	go func() { cmd.Wait(); exited <- cmd.ProcessState.ExitCode() }()

	deadline := time.Now().Add(autostartWait)
	for !client.Answers(socket) {
		select {
		case code := <-exited:
			if code != exitAlreadyServing {
				return notRunning("%s exited with status %d: %s (log: %s)", exe, code, lastLine(logPath, offset), logPath)
			}
			exited = nil // another helper's daemon won: wait for it to answer
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return notRunning("%s (pid %d) did not answer within %s (log: %s)", exe, cmd.Process.Pid, autostartWait, logPath)
		}
	}
	return nil
}

// findDaemon looks next to this executable first, so a dbx-cred always
// starts the dbx-credd it was installed with, then on PATH.
func findDaemon() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), daemonName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath(daemonName)
	if err != nil {
		return "", fmt.Errorf("%s is neither next to dbx-cred nor on PATH (install both with install/install.sh)", daemonName)
	}
	return p, nil
}

// openLog opens the daemon's log for appending, private to the user: it
// names profiles, hosts and processes, though never a token. It returns
// the size before this start, to find what this start wrote.
//
// The directory must pass the socket directory's rules and the log must
// not be a symlink: otherwise whoever planted the link chooses which file
// we create or append to (and the daemon then writes to), anywhere we
// may write.
func openLog(path string) (*os.File, int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("create the log directory: %w", err)
	}
	if err := safesocket.CheckDir(dir); err != nil {
		var de *safesocket.DirError
		if errors.As(err, &de) {
			return nil, 0, fmt.Errorf("the log directory %s %s: %s, or set XDG_STATE_HOME to a private directory", dir, de.Problem, de.Fix)
		}
		return nil, 0, err
	}
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, 0, fmt.Errorf("the daemon log %s is a symlink, which dbx-cred will not follow: remove it", path)
	}
	if err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1") // at worst the log grows on
	}
	// O_NOFOLLOW closes the window between the Lstat and the open.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|oNoFollow, 0o600)
	if err != nil {
		return nil, 0, fmt.Errorf("open the daemon log: %w", err)
	}
	fi, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open the daemon log: %w", err)
	}
	return f, fi.Size(), nil
}

// lastLine gives the last line written to path after offset: the daemon's
// own explanation of why it could not start.
func lastLine(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "no log"
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 64<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return "log unreadable"
	}
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) == 0 {
		return "it logged nothing"
	}
	return string(b)
}

// testHookPrefix starts the names of test builds' hooks (the daemon's
// crash and metadata-port hooks, import's crash hook). A helper run by a
// test that arms one must not arm a daemon that outlives the test; naming
// only the prefix keeps the hooks' own names out of release binaries.
const testHookPrefix = "DBX_CRED_TEST_"

// daemonEnv is the part of the helper's environment an autostarted daemon
// gets. The daemon outlives the command that started it, often by days,
// so it must not keep whatever that command happened to run with (GODEBUG,
// a test's hooks, another tool's secrets): only what it needs to find the
// user's files, keyring and workspace. README.md ("Autostart") lists it.
func daemonEnv(environ []string) []string {
	out := make([]string, 0, 24)
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if ok && k != "" && daemonNeeds(envKey(k)) {
			out = append(out, kv)
		}
	}
	return out
}

// daemonNeeds reports whether the daemon gets the variable k (as envKey
// folded it): the user's identity and places, locale, the session bus
// (the Secret Service), proxies and CA certificates for the workspace,
// a CI system's ID token source, and dbx-cred's own settings.
func daemonNeeds(k string) bool {
	switch k {
	case "HOME", "USER", "LOGNAME", "PATH", "TMPDIR", "LANG", "DBUS_SESSION_BUS_ADDRESS",
		"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
		// A CI system's ID token source, for federated profiles (login
		// --federated): GitHub Actions', Azure DevOps', and the variable
		// the Databricks SDKs read a JWT from.
		"ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
		"SYSTEM_ACCESSTOKEN", "SYSTEM_OIDCREQUESTURI", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "SYSTEM_TEAMPROJECTID",
		"SYSTEM_HOSTTYPE", "SYSTEM_PLANID", "SYSTEM_JOBID", "DATABRICKS_OIDC_TOKEN":
		return true
	}
	if strings.HasPrefix(k, envKey(testHookPrefix)) {
		return false
	}
	return strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, envKey("DBX_CRED_")) ||
		platformEnv(k)
}
