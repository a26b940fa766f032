package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/databrickscfg"
	"github.com/dbx-cred/dbx-cred/internal/safesocket"
	"github.com/dbx-cred/dbx-cred/internal/version"
	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

const doctorHelp = `
Checks everything dbx-cred depends on, one line per check, and names the
command that fixes each problem:

  [ OK ]  fine
  [WARN]  works, but something is off (the line after it: the fix)
  [FAIL]  broken (the line after it: the fix)
  [SKIP]  does not apply here, or could not be checked (it says why)

The checks, in order:
  socket     the socket directory exists, is yours and is private (0700)
  daemon     a dbx-credd answers: its pid, uptime, and who started it (the
             service, dbx-cred's autostart, or by hand). doctor never starts
             one: finding none is its answer
  version    this dbx-cred and the daemon are the same version
  service    the per-user service is installed and enabled
  store      which store, reachable, unlocked; then a probe that writes,
             reads back and deletes a random item
  metadata   the metadata-service listener for SDKs
  profile.NAME.*  per profile (or only -p NAME): the host resolves; the TLS
             handshake works (skipped for http:// loopback hosts); the stored
             token works (SCIM Me); the clock against the workspace's Date
             header; the root's expiry and the last renewal error
  plaintext  tokens left in clear: "token =" or "client_secret =" lines in
             ~/.databrickscfg and $DATABRICKS_CONFIG_FILE, the Databricks
             CLI's ~/.databricks/token-cache.json, dbx-cred import backups
             older than a week. dbx-credd asks each "token =" line's
             workspace whether it still works: a dead one is to delete, a
             live one to import
  env        DATABRICKS_TOKEN or DATABRICKS_CLIENT_SECRET set: the SDKs use
             them before any dbx-cred hook, silently
  git        a credential helper that is dbx-cred, for each logged-in host

The checks that need the store or the network run in the daemon; doctor
itself reads only files, the environment (two names, never values) and
git's config. It never prints a secret.

  dbx-cred doctor              everything
  dbx-cred doctor -p prod      one profile's checks (and the local ones)
  dbx-cred doctor --json       the same checks as objects: name, status,
                               message, fix

Exit status:
  0   no check failed (warnings allowed)
  1   at least one check failed
  64  usage error`

// Bounds of doctor's waits: the daemon's own probes are bounded per check
// (daemon/core/diagnose.go); these only keep a stuck daemon or git from hanging
// doctor.
const (
	doctorStatusTimeout   = 10 * time.Second
	doctorDiagnoseTimeout = 90 * time.Second
	doctorGitTimeout      = 5 * time.Second
	// backupMaxAge is when an import backup (which holds the tokens the
	// import moved into the store, in clear) should have been removed.
	backupMaxAge = 7 * 24 * time.Hour
)

// doctorCheck is one line of doctor's output; JSON has the same fields.
type doctorCheck struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

type doctorReport struct {
	Checks []doctorCheck `json:"checks"`
	Failed int           `json:"failed"`
	Warned int           `json:"warnings"`
}

func runDoctor(c *cli, args []string) error {
	fs := c.flags("doctor", "[-p NAME] [--json]", doctorHelp)
	out := c.outputFlag(fs)
	profile := fs.StringP("profile", "p", "", "check only profile `NAME` (the local checks run too)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var r doctorReport
	add := func(name, status, msg, fix string) {
		r.Checks = append(r.Checks, doctorCheck{Name: name, Status: status, Message: msg, Fix: fix})
		switch status {
		case "FAIL":
			r.Failed++
		case "WARN":
			r.Warned++
		}
	}
	st := c.doctorDaemon(add)
	c.doctorDiagnose(st, *profile, add)
	c.doctorPlaintext(st != nil, add)
	c.doctorEnv(add)
	c.doctorGit(st, *profile, add)
	if out.JSON() {
		if err := writeJSON(c.io.Stdout, r); err != nil {
			return err
		}
	} else {
		for _, ch := range r.Checks {
			tag := map[string]string{"OK": "[ OK ]", "WARN": "[WARN]", "FAIL": "[FAIL]", "SKIP": "[SKIP]"}[ch.Status]
			fmt.Fprintf(c.io.Stdout, "%s %s: %s\n", tag, ch.Name, printable(ch.Message))
			if ch.Fix != "" && (ch.Status == "WARN" || ch.Status == "FAIL") {
				fmt.Fprintf(c.io.Stdout, "       fix: %s\n", printable(ch.Fix))
			}
		}
		fmt.Fprintf(c.io.Stdout, "%d checks: %d failed, %d warnings\n", len(r.Checks), r.Failed, r.Warned)
	}
	if r.Failed > 0 {
		// The lines above say what failed; no message of its own.
		return &exitError{code: exitFailure}
	}
	return nil
}

// doctorDaemon checks the socket directory and asks the daemon who it is;
// nil when none answers.
func (c *cli) doctorDaemon(add func(name, status, msg, fix string)) *pb.StatusResponse {
	socket := safesocket.Path(c.io.Getenv)
	dir := filepath.Dir(socket)
	var de *safesocket.DirError
	switch err := safesocket.CheckDir(dir); {
	case err == nil:
		mode := ""
		if fi, err := os.Stat(dir); err == nil {
			mode = fmt.Sprintf(", mode %04o", fi.Mode().Perm())
		}
		add("socket", "OK", dir+" is yours and private"+mode, "")
	case errors.Is(err, fs.ErrNotExist):
		add("socket", "SKIP", dir+" does not exist yet: dbx-credd creates it when it starts", "")
	case errors.As(err, &de):
		add("socket", "FAIL", fmt.Sprintf("%s %s", de.Path, de.Problem), de.Fix)
	default:
		add("socket", "FAIL", err.Error(), "")
	}

	ctx, cancel := within(doctorStatusTimeout)
	defer cancel()
	st, err := c.daemon(false).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		add("daemon", "FAIL", fmt.Sprintf("no dbx-credd answers on %s: %s", socket, oneLine(err.Error())), "dbx-cred daemon restart")
		add("version", "SKIP", "no daemon to compare with (this dbx-cred is "+version.Version+")", "")
		return nil
	}
	by := map[string]string{"service": "the service", "autostart": "dbx-cred's autostart", "hand": "hand"}[st.GetStartedBy()]
	if by == "" {
		by = "an unknown starter (an older dbx-credd)"
	}
	up := time.Since(st.GetStarted().AsTime()).Round(time.Second)
	add("daemon", "OK", fmt.Sprintf("dbx-credd pid %d, up %s, started by %s, on %s", st.GetPid(), up, by, st.GetSocket()), "")
	if st.GetVersion() == version.Version {
		add("version", "OK", "dbx-cred and dbx-credd are both "+version.Version, "")
	} else {
		add("version", "WARN", fmt.Sprintf("dbx-credd is %s but this dbx-cred is %s (the daemon started before an upgrade?)", st.GetVersion(), version.Version),
			"dbx-cred daemon restart")
	}
	return st
}

// doctorDiagnose adds the daemon's own checks, or, with no daemon, what the
// helper can tell without one.
func (c *cli) doctorDiagnose(st *pb.StatusResponse, profile string, add func(name, status, msg, fix string)) {
	if st == nil {
		c.doctorServiceFiles(add)
		add("store", "SKIP", "no daemon to ask: the store is checked by dbx-credd", "")
		add("metadata", "SKIP", "no daemon: the metadata service runs in dbx-credd", "")
		add("profiles", "SKIP", "no daemon: the profiles' checks run in dbx-credd", "")
		return
	}
	ctx, cancel := within(doctorDiagnoseTimeout)
	defer cancel()
	resp, err := c.daemon(false).Diagnose(ctx, &pb.DiagnoseRequest{Profile: profile})
	switch {
	case err != nil && exitCode(err) == exitNoProfile:
		add("profile."+profile, "FAIL", oneLine(err.Error()), "dbx-cred list")
		return
	case err != nil:
		add("diagnose", "FAIL", "dbx-credd could not run its checks: "+oneLine(err.Error()), "dbx-cred daemon restart")
		return
	}
	for _, ch := range resp.GetChecks() {
		add(ch.GetName(), strings.TrimPrefix(ch.GetStatus().String(), "CHECK_STATUS_"), ch.GetMessage(), ch.GetFix())
	}
	if profile == "" && len(st.GetProfiles()) == 0 {
		add("profiles", "SKIP", "no profiles yet", "")
	}
}

// doctorServiceFiles looks for the systemd unit where dbx-credd install
// writes it: without a daemon there is nobody to ask kardianos, which the
// helper does not link.
func (c *cli) doctorServiceFiles(add func(name, status, msg, fix string)) {
	home := c.io.Getenv("HOME")
	if runtime.GOOS != "linux" || home == "" {
		add("service", "SKIP", "checked by dbx-credd, which does not run", "")
		return
	}
	unit := filepath.Join(home, ".config", "systemd", "user", "dbx-credd.service")
	wants := filepath.Join(home, ".config", "systemd", "user", "default.target.wants", "dbx-credd.service")
	if _, err := os.Lstat(unit); err != nil {
		add("service", "SKIP", "not installed ("+unit+"): dbx-cred starts the daemon on first use", "")
		return
	}
	if _, err := os.Lstat(wants); err != nil {
		add("service", "WARN", "installed but not enabled: it will not start at login ("+unit+")", "dbx-credd install")
		return
	}
	add("service", "WARN", "installed and enabled, but its daemon does not answer", "dbx-credd start")
}

// doctorPlaintext looks for tokens left in clear by other tools or by an
// import. It reports key names and line numbers, never values.
// With a daemon, it asks each token's workspace whether the token still
// works: a dead one is named for deletion, as import would refuse it.
func (c *cli) doctorPlaintext(daemon bool, add func(name, status, msg, fix string)) {
	home := c.io.Getenv("HOME")
	var paths []string
	if home != "" {
		paths = append(paths, filepath.Join(home, ".databrickscfg"))
	}
	if p, err := configPath("", c.io.Getenv); err == nil && !slices.Contains(paths, p) {
		paths = append(paths, p)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			add("plaintext.config", "OK", "no "+p, "")
			continue
		}
		if err != nil {
			add("plaintext.config", "WARN", fmt.Sprintf("cannot read %s: %v", p, err), "")
			continue
		}
		f := databrickscfg.Parse(data)
		if probs := f.Problems(); len(probs) > 0 {
			// import would refuse it too: the fix is the line itself.
			add("plaintext.config", "FAIL", fmt.Sprintf("%s does not parse, %s; the Databricks SDKs cannot read it either", p, probs[0]),
				fmt.Sprintf("fix line %d of %s", probs[0].Line, p))
			continue
		}
		c.doctorConfigURLs(p, f, add)
		var found []string
		var dead []string // rejected token lines
		var deadLines []int
		rejected := c.rejectedTokens(daemon, f)
		for _, sec := range f.Sections() {
			for _, key := range []string{"token", "client_secret"} {
				if v, ok := f.Get(sec, key); ok && strings.TrimSpace(v) != "" {
					for _, n := range f.Lines(sec, key) {
						line := fmt.Sprintf("[%s] %s (line %d)", sec, key, n)
						if key == "token" && rejected[sec] {
							dead, deadLines = append(dead, line), append(deadLines, n)
							continue
						}
						found = append(found, line)
					}
				}
			}
		}
		if len(dead) > 0 {
			add("plaintext.config", "FAIL", fmt.Sprintf("%s holds tokens in clear that their workspace rejects (expired or revoked, so import would refuse them): %s", p, strings.Join(dead, ", ")),
				fmt.Sprintf("delete %s from %s", linesWord(deadLines), p))
		}
		if len(found) == 0 {
			if len(dead) == 0 {
				add("plaintext.config", "OK", "no token or client_secret lines in "+p, "")
			}
			continue
		}
		add("plaintext.config", "FAIL", fmt.Sprintf("%s holds secrets in clear: %s", p, strings.Join(found, ", ")),
			"dbx-cred import --config "+p)
	}
	if home != "" {
		cache := filepath.Join(home, ".databricks", "token-cache.json")
		if _, err := os.Stat(cache); err == nil {
			add("plaintext.cli-cache", "WARN", cache+" exists: the Databricks CLI keeps OAuth tokens there in clear",
				"dbx-cred import --all (moves its OAuth logins into dbx-credd and out of the file); for what stays, rm "+cache+" and log in with auth_storage = secure")
		} else {
			add("plaintext.cli-cache", "OK", "no "+cache, "")
		}
	}
	var old []string
	for _, p := range paths {
		for _, b := range databrickscfg.Backups(p) {
			if fi, err := os.Stat(b); err == nil && time.Since(fi.ModTime()) > backupMaxAge {
				old = append(old, b)
			}
		}
	}
	if len(old) > 0 {
		add("plaintext.backups", "WARN", fmt.Sprintf("%d import backup(s) older than a week still hold the imported tokens in clear", len(old)),
			"rm "+strings.Join(old, " "))
	} else {
		add("plaintext.backups", "OK", "no import backups older than a week", "")
	}
}

// doctorEnv checks two names; it never reads other variables or prints a
// value.
// doctorTokenCheckTimeout bounds the daemon's check of the tokens in a
// config file; it checks them side by side, each within 10 s.
const doctorTokenCheckTimeout = 20 * time.Second

// rejectedTokens asks dbx-credd which sections' token lines (those with a
// host beside them) their workspace rejects. Without a daemon, or with no
// answer, it reports none: the lines are then offered to import as before.
func (c *cli) rejectedTokens(daemon bool, f *databrickscfg.File) map[string]bool {
	if !daemon {
		return nil
	}
	var secs []string
	req := &pb.CheckTokensRequest{}
	for _, sec := range f.Sections() {
		tok, ok := f.Get(sec, "token")
		host, hok := f.Get(sec, "host")
		if !ok || !hok || strings.TrimSpace(tok) == "" || strings.TrimSpace(host) == "" {
			continue
		}
		secs = append(secs, sec)
		req.Tokens = append(req.Tokens, &pb.HostToken{Host: strings.TrimSpace(host), Token: strings.TrimSpace(tok)})
	}
	if len(secs) == 0 || len(secs) > 32 {
		return nil
	}
	ctx, cancel := within(doctorTokenCheckTimeout)
	defer cancel()
	resp, err := c.daemon(false).CheckTokens(ctx, req)
	if err != nil || len(resp.GetChecks()) != len(secs) {
		return nil
	}
	out := map[string]bool{}
	for i, ch := range resp.GetChecks() {
		if ch.GetVerdict() == pb.TokenVerdict_TOKEN_VERDICT_REJECTED {
			out[secs[i]] = true
		}
	}
	return out
}

// linesWord says "line 3" or "lines 3 and 7" or "lines 3, 5 and 7".
func linesWord(ns []int) string {
	if len(ns) == 1 {
		return fmt.Sprintf("line %d", ns[0])
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return "lines " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (c *cli) doctorEnv(add func(name, status, msg, fix string)) {
	var set []string
	for _, name := range []string{"DATABRICKS_TOKEN", "DATABRICKS_CLIENT_SECRET"} {
		if c.io.Getenv(name) != "" {
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		add("env", "OK", "neither DATABRICKS_TOKEN nor DATABRICKS_CLIENT_SECRET is set", "")
		return
	}
	add("env", "FAIL", strings.Join(set, " and ")+" set in this environment: the SDKs use it before any dbx-cred hook, silently",
		"unset "+strings.Join(set, " ")+" (and remove it from your shell's start-up files)")
}

// doctorGit asks git, for each logged-in host, which credential helper it
// would run. The helper's value is never printed: a "!" helper may hold a
// secret inline.
func (c *cli) doctorGit(st *pb.StatusResponse, profile string, add func(name, status, msg, fix string)) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		add("git", "SKIP", "git is not installed", "")
		return
	}
	if st == nil {
		add("git", "SKIP", "no daemon: the logged-in hosts are not known", "")
		return
	}
	var hosts []string
	for _, p := range st.GetProfiles() {
		if (profile == "" || p.GetName() == profile) && !slices.Contains(hosts, p.GetHost()) {
			hosts = append(hosts, p.GetHost())
		}
	}
	if len(hosts) == 0 {
		add("git", "SKIP", "no logged-in hosts", "")
		return
	}
	for _, h := range hosts {
		ctx, cancel := context.WithTimeout(context.Background(), doctorGitTimeout)
		cmd := exec.CommandContext(ctx, gitPath, "config", "--get-urlmatch", "credential.helper", h)
		cmd.Env = gitEnv(c.io.Getenv)
		out, err := cmd.Output()
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		fix := "git config --global credential." + h + ".helper dbx-cred"
		var xe *exec.ExitError
		switch {
		case timedOut:
			add("git", "WARN", fmt.Sprintf("git config did not answer within %s", doctorGitTimeout), "")
		case errors.As(err, &xe) && xe.ExitCode() == 1:
			add("git", "WARN", "no credential helper for "+h+": git asks for a password", fix)
		case err != nil:
			add("git", "WARN", fmt.Sprintf("git config --get-urlmatch credential.helper %s: %v", h, err), "")
		case strings.Contains(string(out), "dbx-cred"):
			add("git", "OK", "git uses dbx-cred for "+h, "")
		default:
			add("git", "WARN", "git has a credential helper for "+h+", but not dbx-cred", fix)
		}
	}
}

// gitEnv is what git needs to find the user's config, from the helper's
// environment (which tests set): the process's own otherwise.
func gitEnv(getenv func(string) string) []string {
	var env []string
	for _, name := range []string{"HOME", "PATH", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "LANG"} {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
