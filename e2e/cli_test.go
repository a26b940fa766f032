package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Databricks SDK for Python probes "version --output json" and reads
// the integer fields Major, Minor and Patch; the real CLI also prints
// Version and Prerelease. Plain "version" stays the line the Go SDK parses.
func TestVersionAnswersBothSDKProbes(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{{"version", "--output", "json"}, {"version", "-o", "json"}, {"version", "--json"}} {
		out := w.mustHelper("", args...)
		dec := json.NewDecoder(strings.NewReader(out))
		dec.UseNumber()
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: not a JSON object: %v\n%s", args, err, out)
		}
		var keys []string
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if strings.Join(keys, " ") != "Major Minor Patch Prerelease Version" {
			t.Fatalf("%v: fields %v", args, keys)
		}
		for k, want := range map[string]string{"Major": "0", "Minor": "296", "Patch": "0"} {
			if n, ok := v[k].(json.Number); !ok || n.String() != want {
				t.Errorf("%v: %s = %#v, want the integer %s", args, k, v[k], want)
			}
		}
		if v["Prerelease"] != "" || !strings.HasPrefix(v["Version"].(string), "0.296.0+dbx-cred.") {
			t.Errorf("%v: Prerelease %#v, Version %#v", args, v["Prerelease"], v["Version"])
		}
	}
	probe := w.mustHelper("", "version")
	m := regexp.MustCompile(`^Databricks CLI v0\.296\.0\+dbx-cred\.([0-9A-Za-z.-]+)\n$`).FindStringSubmatch(probe)
	if m == nil {
		t.Fatalf("version: %q is not the line the Go SDK parses", probe)
	}
	// --version is for people, with the one version string the daemon
	// shows too.
	if out := w.mustHelper("", "--version"); out != "dbx-cred "+m[1]+" (Databricks CLI credential protocol v0.296.0)\n" {
		t.Errorf("dbx-cred --version: %q, want version %s", out, m[1])
	}
	if out, err := exec.Command(built.daemon, "--version").Output(); err != nil || string(out) != "dbx-credd "+m[1]+"\n" {
		t.Errorf("dbx-credd --version: %q (%v), want version %s", out, err, m[1])
	}
}

// Usage errors are short: what is wrong with a suggestion, where the help
// is, exit 64; never the whole help.
func TestUsageErrorsAreShort(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tokn"}, `dbx-cred: unknown command "tokn"; did you mean token?`},
		{[]string{"token", "--token"}, `dbx-cred token: unknown flag --token`},
		{[]string{"token", "--profil", "x"}, `did you mean --profile?`},
		{[]string{"list", "-json"}, `did you mean --json?`},
		{[]string{"list", "--output", "yaml"}, `use text or json`},
		{[]string{"status", "extra"}, `dbx-cred status: unexpected argument "extra"`},
		{[]string{"--verison"}, `did you mean --version?`},
		{[]string{"help", "tokn"}, `did you mean token?`},
	} {
		out, errOut, code := w.helper("", tc.args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 64 || out != "" || len(lines) > 3 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%v: exit %d, %d lines, want 64, at most 3 lines with %q and where the help is:\n%s", tc.args, code, len(lines), tc.want, errOut)
		}
	}
}

// "dbx-cred help CMD" is "dbx-cred CMD --help", on stdout, exit 0, and
// every command's help has GNU-style flags and its exit status.
func TestHelpCommandAndExitCodes(t *testing.T) {
	w := newWorld(t)
	top := w.mustHelper("", "--help")
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z][a-z-]+) `).FindAllStringSubmatch(top[strings.Index(top, "Commands:"):strings.Index(top, "Common flags:")], -1) {
		names = append(names, m[1])
	}
	if len(names) < 15 {
		t.Fatalf("found only %v in:\n%s", names, top)
	}
	for _, name := range names {
		if name == "help" {
			continue
		}
		viaHelp := w.mustHelper("", "help", name)
		viaFlag, errOut, code := w.helper("", name, "--help")
		if code != 0 || errOut != "" || viaHelp != viaFlag {
			t.Errorf("help %s and %s --help differ (exit %d, stderr %q)", name, name, code, errOut)
		}
		if !strings.Contains(viaFlag, "Usage: dbx-cred "+name) || !strings.Contains(viaFlag, "\nExit status:\n") ||
			!strings.Contains(viaFlag, "-h, --help") {
			t.Errorf("%s --help lacks its usage line, flags or exit status:\n%s", name, viaFlag)
		}
	}
	if h := w.mustHelper("", "help", "token"); !strings.Contains(h, "  -p, --profile NAME ") {
		t.Errorf("token --help: want GNU-style \"-p, --profile NAME\":\n%s", h)
	}
	if h := w.mustHelper("", "help", "audit"); !strings.Contains(h, "-p, --profile NAME") || !strings.Contains(h, "-o, --output FORMAT") {
		t.Errorf("audit --help: want -p and -o:\n%s", h)
	}
	if h := w.mustHelper("", "help", "auth", "token"); !strings.Contains(h, "Usage: dbx-cred auth token") {
		t.Errorf("help auth token:\n%s", h)
	}
}

func TestExecOfAMissingCommand(t *testing.T) {
	w := newWorld(t)
	out, errOut, code := w.helper("", "exec", "-p", "prod", "--", "nosuchcmd")
	if code != 127 || out != "" || errOut != "dbx-cred exec: nosuchcmd: not found\n" {
		t.Fatalf("exec nosuchcmd: exit %d, stderr %q", code, errOut)
	}
}

// -o json wherever --json is, and audit -p.
func TestOutputFlagAndAuditProfile(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("a")
	w.login("b")
	w.mustHelper("", "token", "-p", "a")
	w.mustHelper("", "token", "-p", "b")
	for _, cmd := range []string{"list", "status", "audit"} {
		if a, b := w.mustHelper("", cmd, "-o", "json"), w.mustHelper("", cmd, "--json"); !json.Valid([]byte(a)) || len(a) == 0 || cmd == "list" && a != b {
			t.Errorf("%s -o json: %q (--json: %q)", cmd, a, b)
		}
	}
	var events []struct{ Profile string }
	if err := json.Unmarshal([]byte(w.mustHelper("", "audit", "-p", "b", "-o", "json")), &events); err != nil || len(events) == 0 {
		t.Fatalf("audit -p b: %v %v", events, err)
	}
	for _, e := range events {
		if e.Profile != "b" {
			t.Fatalf("audit -p b shows %q's hand-outs", e.Profile)
		}
	}
	if n := strings.Count(w.mustHelper("", "audit", "-p", "a", "-n", "1"), "\n"); n != 2 {
		t.Errorf("audit -p a -n 1: %d lines, want the header and one", n)
	}
}

// A rejected token at login is said once, on one line, with what to do.
func TestRejectedLoginSaidOnce(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	_, errOut, code := w.helper("dapi-not-a-valid-token\n", "login", "-p", "x", "--host", w.srv.URL)
	if code != 4 || strings.Count(errOut, "reject") != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "create a new one") {
		t.Fatalf("rejected login: exit %d, want 4 and one line saying it once:\n%s", code, errOut)
	}
}

// status shows the daemon's version and, when the helper's differs (an
// upgrade left the old daemon running), how to restart it.
func TestStatusWarnsOfAnotherDaemonVersion(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	if st := w.mustHelper("", "status"); strings.Contains(st, "WARNING") || !strings.Contains(st, "metadata:  http://127.0.0.1:") {
		t.Fatalf("same versions: want no warning and the metadata address:\n%s", st)
	}
	newer := filepath.Join(t.TempDir(), "dbx-cred")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/dbx-cred/dbx-cred/internal/version.Version=v9.9.9", "-o", newer, "../cmd/dbx-cred")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a newer helper: %v\n%s", err, out)
	}
	run := func(args ...string) string {
		cmd := exec.Command(newer, args...)
		cmd.Env = w.environ()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("newer dbx-cred %v: %v", args, err)
		}
		return string(out)
	}
	pid := w.daemon.Process.Pid
	st := run("status")
	if !strings.Contains(st, "WARNING: dbx-credd (pid "+strconv.Itoa(pid)+") is version dev but this dbx-cred is v9.9.9") ||
		!strings.Contains(st, "dbx-credd stop && dbx-credd start") || !strings.Contains(st, "dbx-cred daemon restart") {
		t.Fatalf("status from a newer helper:\n%s", st)
	}
	var js struct {
		V string `json:"version"`
		H string `json:"helper_version"`
		W string `json:"version_warning"`
	}
	if err := json.Unmarshal([]byte(run("status", "--output", "json")), &js); err != nil || js.V != "dev" || js.H != "v9.9.9" || !strings.Contains(js.W, "restart") {
		t.Fatalf("status --output json: %+v %v", js, err)
	}
}

// The completion scripts, sourced by the real shells, complete a command
// and a profile name that comes from the running daemon.
func TestCompletionInRealShells(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod-east")
	env := append(w.environ(), "PATH="+built.dir+":"+os.Getenv("PATH"))
	script := func(shell string) string {
		p := filepath.Join(w.root, "completion."+shell)
		if err := os.WriteFile(p, []byte(w.mustHelper("", "completion", shell)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Each prints the candidates for "dbx-cred tok" and "dbx-cred token -p pro".
	cases := map[string][]string{
		"bash": {"bash", "--norc", "--noprofile", "-c", `source "$1"
for line in "dbx-cred tok" "dbx-cred token -p pro"; do
  read -ra COMP_WORDS <<<"$line"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  _dbx_cred; printf '%s\n' "${COMPREPLY[@]}"
done`, "bash", script("bash")},
		// compadd is stubbed (it works only inside a completion widget);
		// compinit and the script's compdef are zsh's own.
		"zsh": {"zsh", "-f", "-c", `autoload -U compinit && compinit -u -d "$2"
source "$1"
compadd() { [[ $1 == -- ]] && shift; printf '%s\n' "$@"; }
words=(dbx-cred tok); CURRENT=2; _dbx-cred
words=(dbx-cred token -p pro); CURRENT=4; _dbx-cred`, "zsh", script("zsh"), filepath.Join(w.root, "zcompdump")},
		"fish": {"fish", "--no-config", "-c", `source $argv[1]
complete -C "dbx-cred tok"
complete -C "dbx-cred token -p pro"`, script("fish")},
	}
	for shell, argv := range cases {
		requireTools(t, shell)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(env, "XDG_DATA_HOME="+filepath.Join(w.root, shell+"-data"), "XDG_CONFIG_HOME="+filepath.Join(w.root, shell+"-config"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		cancel()
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			cand, _, _ := strings.Cut(line, "\t") // fish: candidate, tab, description
			got = append(got, strings.TrimSpace(cand))
		}
		if err != nil || strings.Join(got, " ") != "token prod-east" {
			t.Errorf("%s: %v: completed %q, want token and prod-east\n%s", shell, err, got, errb.String())
		}
		// fish shows what each command does beside it.
		if shell == "fish" && !strings.Contains(out.String(), "token\tprint a token for a profile") {
			t.Errorf("fish: no description beside token: %q", out.String())
		}
	}
}

// No daemon: profile completion gives nothing, quickly, and starts none.
func TestCompletionNeverStartsTheDaemon(t *testing.T) {
	w := newWorld(t)
	delete(w.env, "DBX_CRED_NO_AUTOSTART")
	start := time.Now()
	out, errOut, code := w.helper("", "__complete", "token", "-p", "")
	if code != 0 || out != "" || errOut != "" || time.Since(start) > 3*time.Second {
		t.Fatalf("__complete without a daemon: exit %d %q %q after %s", code, out, errOut, time.Since(start))
	}
	if _, err := os.Stat(w.socket()); err == nil {
		t.Fatal("completion started a daemon")
	}
}
