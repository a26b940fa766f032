//go:build unix

package helper

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// hostile values: each would run "touch" if any shell evaluated it as code.
const (
	hostileProfile = `p'; touch pwned-profile; echo '$(touch pwned-p2)` + "`touch pwned-p3`"
	hostileHost    = `https://h'$(touch pwned-host)"` + "`touch pwned-host2`" + `\;{x}` + "\n" + `%%s $HOME`
	hostileURL     = `http://127.0.0.1:8471/'"$(touch pwned-url)'` + `\\'` + "\u2019" + `;(touch pwned-url2) #`
	hostileToken   = `dapi'"$(touch pwned-token)` + "`x`" + `\';end;touch pwned-t2`
)

// shellCase runs dbx-cred's output through a real shell, then dumps the
// exported environment NUL-separated. No --shell is given: the syntax
// follows the shell that runs dbx-cred (fish's "| source" just works).
type shellCase struct {
	shell, script string
}

func shellCases(mode string) []shellCase {
	dbx := strings.Join(quoteAll(helperShellPrefix()), " ")
	posix := `dbx() { ` + dbx + ` "$@"; }
export DATABRICKS_TOKEN=stale DATABRICKS_METADATA_SERVICE_URL=stale
eval "$(dbx env -p "$P" --mode ` + mode + `)" || exit 9
env -0 > set.env
eval "$(dbx env --unset)" || exit 9
env -0 > unset.env`
	fish := `function dbx; ` + dbx + ` $argv; end
set -gx DATABRICKS_TOKEN stale; set -gx DATABRICKS_METADATA_SERVICE_URL stale
dbx env -p $P --mode ` + mode + ` | source; or exit 9
env -0 > set.env
dbx env --unset | source
env -0 > unset.env`
	return []shellCase{{"bash", posix}, {"zsh", posix}, {"fish", fish}}
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}

func TestEnvOutputIsInertInRealShells(t *testing.T) {
	for _, mode := range []string{modeToken, modeMetadata} {
		f := newFakeDaemon(t)
		f.add(hostileProfile, hostileHost, hostileToken, nil)
		md := &pb.MetadataURLResponse{Url: hostileURL, Host: hostileHost}
		f.with(func(f *fakeDaemon) { f.metadata = md })
		want := map[string]string{"DATABRICKS_HOST": hostileHost, "DATABRICKS_TOKEN": hostileToken, "DATABRICKS_AUTH_TYPE": "pat"}
		gone := []string{"DATABRICKS_METADATA_SERVICE_URL"}
		if mode == modeMetadata {
			want = map[string]string{"DATABRICKS_HOST": hostileHost, "DATABRICKS_AUTH_TYPE": "metadata-service",
				"DATABRICKS_METADATA_SERVICE_URL": hostileURL}
			gone = []string{"DATABRICKS_TOKEN"}
		}
		for _, sc := range shellCases(mode) {
			if _, err := exec.LookPath(sc.shell); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is missing", sc.shell)
				}
				t.Logf("%s is missing; skipped", sc.shell)
				continue
			}
			dir := t.TempDir()
			cmd := exec.Command(sc.shell, "-c", sc.script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "DBX_CRED_HELPER_PROCESS=1", "DBX_CRED_SOCKET="+f.socket, "P="+hostileProfile)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v: %s", sc.shell, mode, err, out)
			}
			if pwned, _ := filepath.Glob(filepath.Join(dir, "pwned*")); len(pwned) > 0 {
				t.Fatalf("%s %s: evaluating the output ran code: %v", sc.shell, mode, pwned)
			}
			set, _ := os.ReadFile(filepath.Join(dir, "set.env"))
			env := environMap(set)
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s %s: %s = %q, want %q", sc.shell, mode, k, env[k], v)
				}
			}
			for _, k := range gone {
				if _, ok := env[k]; ok {
					t.Errorf("%s %s: %s survived", sc.shell, mode, k)
				}
			}
			unset, _ := os.ReadFile(filepath.Join(dir, "unset.env"))
			for _, k := range allClientVars() {
				if _, ok := environMap(unset)[k]; ok {
					t.Errorf("%s %s: %s survived --unset", sc.shell, mode, k)
				}
			}
		}
		r := f.requests()
		if mode == modeToken && (len(r) == 0 || r[0].GetChannel() != pb.Channel_CHANNEL_ENV || r[0].GetProfile() != hostileProfile) {
			t.Errorf("token mode requests: %v", r)
		}
		if mode == modeMetadata && len(r) != 0 {
			t.Errorf("metadata mode fetched a token: %v", r)
		}
	}
}

func TestEnvMetadataModeOnOldDaemon(t *testing.T) {
	f := newFakeDaemon(t)
	out, errOut, code := f.run("", nil, "env", "-p", "prod", "--mode", "metadata")
	if code != exitFailure || out != "" || !strings.Contains(errOut, "--mode token") {
		t.Fatalf("Unimplemented MetadataURL: %d %q %q", code, out, errOut)
	}
}

func TestEnvPowerShellMetadata(t *testing.T) {
	f := newFakeDaemon(t)
	md := &pb.MetadataURLResponse{Url: "http://127.0.0.1:1/x'y", Host: "https://h"}
	f.with(func(f *fakeDaemon) { f.metadata = md })
	out, _, code := f.run("", nil, "env", "-p", "prod", "--mode", "metadata", "--shell", "powershell")
	want := "Remove-Item Env:DATABRICKS_TOKEN -ErrorAction SilentlyContinue\n" +
		"$Env:DATABRICKS_HOST = 'https://h'\n$Env:DATABRICKS_AUTH_TYPE = 'metadata-service'\n" +
		"$Env:DATABRICKS_METADATA_SERVICE_URL = 'http://127.0.0.1:1/x''y'\n"
	if code != 0 || out != want {
		t.Fatalf("got %d %q", code, out)
	}
}

func TestShellWord(t *testing.T) {
	for name, want := range map[string]string{"fish": "fish", "-bash": "bash", "zsh": "zsh", "pwsh": "pwsh", "pwsh.exe": "pwsh",
		"python3": "", "make": "", "": "", "/usr/bin/fish": ""} {
		if got := shellWord(name); got != want {
			t.Errorf("shellWord(%q) = %q, want %q", name, got, want)
		}
	}
}
