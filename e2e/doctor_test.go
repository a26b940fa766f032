package e2e

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dbx-cred doctor through the real binaries, against golden output with
// the parts that change from run to run masked. After an intended change
// of doctor's output:
//
//	CGO_ENABLED=1 scripts/with-secret-service go test ./e2e -run Doctor -update

var update = flag.Bool("update", false, "rewrite the golden files under e2e/testdata/")

// doctorMasks replace what differs between runs and machines.
var doctorMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`pid \d+`), "pid PID"},
	{regexp.MustCompile(`up [0-9hms.µ]+`), "up UPTIME"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`both \S+`), "both VERSION"},
	{regexp.MustCompile(`this dbx-cred is [^ )]+`), "this dbx-cred is VERSION"},
}

func (w *world) maskDoctor(out string) string {
	out = strings.ReplaceAll(out, w.root, "$ROOT")
	for _, m := range doctorMasks {
		out = m.re.ReplaceAllString(out, m.with)
	}
	return out
}

// golden compares got with e2e/testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e -run Doctor -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("doctor's output differs from %s (run with -update if the change is intended):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// doctor runs dbx-cred doctor in text and JSON, checks both for the PAT and
// that they agree on the checks, and returns the masked text.
func (w *world) doctor(wantCode int, args ...string) string {
	w.t.Helper()
	out, errOut, code := w.helper("", append([]string{"doctor"}, args...)...)
	if code != wantCode {
		w.t.Fatalf("doctor %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, out, errOut)
	}
	js, _, jcode := w.helper("", append([]string{"doctor", "--json"}, args...)...)
	if jcode != wantCode {
		w.t.Fatalf("doctor --json %v: exit %d, want %d", args, jcode, wantCode)
	}
	for _, s := range []string{out, errOut, js} {
		if strings.Contains(s, w.pat) {
			w.t.Fatalf("doctor printed the PAT")
		}
	}
	var r struct {
		Checks []struct{ Name, Status, Message, Fix string }
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		w.t.Fatalf("doctor --json: %v\n%s", err, js)
	}
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[") {
			lines++
		}
	}
	if lines != len(r.Checks) {
		w.t.Fatalf("doctor printed %d checks, --json %d", lines, len(r.Checks))
	}
	for _, c := range r.Checks {
		if (c.Status == "FAIL" || c.Status == "WARN") && c.Fix == "" && !strings.Contains(c.Message, "did not answer") {
			w.t.Errorf("check %s is %s without a fix: %s", c.Name, c.Status, c.Message)
		}
	}
	return w.maskDoctor(strings.ReplaceAll(out, w.srv.URL, "$WORKSPACE"))
}

func (w *world) gitConfig(args ...string) {
	w.t.Helper()
	cmd := exec.Command("git", append([]string{"config", "--global"}, args...)...)
	cmd.Env = w.environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("git config %v: %v: %s", args, err, out)
	}
}

func doctorWorld(t *testing.T) *world {
	requireTools(t, "git")
	w := newWorld(t)
	// Only this world's ~/.gitconfig, not the machine's.
	w.env["GIT_CONFIG_NOSYSTEM"] = "1"
	return w
}

func TestDoctorHealthy(t *testing.T) {
	w := doctorWorld(t)
	w.startDaemon()
	w.login("prod")
	w.gitConfig("credential.helper", "dbx-cred")
	golden(t, "doctor-healthy.txt", w.doctor(0))
	golden(t, "doctor-healthy-profile.txt", w.doctor(0, "-p", "prod"))
	if out := w.doctor(1, "-p", "nosuch"); !strings.Contains(out, "[FAIL] profile.nosuch: ") || !strings.Contains(out, "known profiles: prod") {
		t.Errorf("doctor -p of an unknown profile:\n%s", out)
	}
	w.assertNoSecretOnDisk(w.pat)
}

func TestDoctorBroken(t *testing.T) {
	w := doctorWorld(t)
	// No daemon: doctor says so, and starts none.
	golden(t, "doctor-no-daemon.txt", w.doctor(1))
	if _, err := os.Stat(w.socket()); err == nil {
		t.Fatal("doctor left a socket behind: it must never start a daemon")
	}

	w.startDaemon()
	w.login("prod")
	// What other tools leave behind: a token in clear in .databrickscfg,
	// DATABRICKS_TOKEN in the environment, the root revoked in the
	// workspace (by an admin, or after 90 days unused), and no git helper.
	// The [prod] line's token is revoked below: doctor names it for
	// deletion. [dev]'s still works: that one is offered to import.
	cfg := "[prod]\nhost = " + w.srv.URL + "\ntoken = " + w.pat + "\n" +
		"[dev]\nhost = " + w.srv.URL + "\ntoken = " + w.emu.AddUser("dev@example.com") + "\n"
	if err := os.WriteFile(filepath.Join(w.env["HOME"], ".databrickscfg"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.env["DATABRICKS_TOKEN"] = w.pat
	if !w.emu.RevokeToken(w.pat) {
		t.Fatal("the emulator did not know the PAT")
	}
	out := w.doctor(1)
	golden(t, "doctor-broken.txt", out)
	u, _ := url.Parse(w.srv.URL)
	for _, want := range []string{
		"[FAIL] profile.prod.token: the workspace rejects the stored token",
		"fix: dbx-cred login -p prod --host $WORKSPACE",
		"their workspace rejects (expired or revoked, so import would refuse them): [prod] token (line 3)",
		"fix: delete line 3 from $ROOT/home/.databrickscfg",
		"holds secrets in clear: [dev] token (line 6)",
		"[FAIL] env: DATABRICKS_TOKEN set",
		"[WARN] git: no credential helper for $WORKSPACE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor's output lacks %q (workspace %s):\n%s", want, u.Host, out)
		}
	}
}

// TestDoctorSaysWhoStartedTheDaemon: the daemon cannot guess its starter,
// so autostart says so with --started-by, and doctor shows it. Even with
// autostart on, doctor itself starts nothing.
func TestDoctorSaysWhoStartedTheDaemon(t *testing.T) {
	w := autostartWorld(t)
	w.doctor(1)
	if pids := daemonsOn(t, w.socket()); len(pids) != 0 {
		t.Fatalf("doctor started a daemon: %v", pids)
	}
	w.mustHelper("", "list") // starts one
	out, _, _ := w.helper("", "doctor")
	if !strings.Contains(out, "started by dbx-cred's autostart") {
		t.Fatalf("doctor after an autostart:\n%s", out)
	}
	w.mustHelper("", "daemon", "stop")
}

// TestNoServiceManagerPointsToDaemonStop: without systemd (as in this
// container), dbx-credd stop and install say how to stop the running
// daemon instead of leaving kill as the only way.
func TestNoServiceManagerPointsToDaemonStop(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs here: install and stop would use it")
	}
	w := newWorld(t)
	w.startDaemon()
	for _, verb := range []string{"stop", "install"} {
		cmd := exec.Command(built.daemon, verb)
		cmd.Env = w.environ()
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "dbx-cred daemon stop") {
			t.Errorf("dbx-credd %s without systemd: %v\n%s", verb, err, out)
		}
	}
}
