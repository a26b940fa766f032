package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// install/install.sh into a temporary prefix puts git-credential-dbx-cred
// next to dbx-cred, so git's conventional forms work: credential.helper
// 'dbx-cred -p NAME' makes git run "git credential-dbx-cred -p NAME get".
// It also installs completion where bash, zsh and fish look, and the man
// pages.
func TestGitConventionalHelperFromAnInstall(t *testing.T) {
	requireTools(t, "git", "bash")
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	prefix := filepath.Join(w.root, "prefix", "bin")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	inst := exec.CommandContext(ctx, "bash", "../install/install.sh", "--prefix", prefix, "--no-service")
	home := w.env["HOME"]
	inst.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	if out, err := inst.CombinedOutput(); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	if target, err := os.Readlink(filepath.Join(prefix, "git-credential-dbx-cred")); err != nil || target != "dbx-cred" {
		t.Fatalf("git-credential-dbx-cred: want a relative link to dbx-cred, got %q %v", target, err)
	}
	for _, f := range []string{"data/bash-completion/completions/dbx-cred", "data/zsh/site-functions/_dbx-cred", "config/fish/completions/dbx-cred.fish"} {
		if b, err := os.ReadFile(filepath.Join(home, f)); err != nil || !strings.Contains(string(b), "__complete") {
			t.Errorf("install.sh did not install %s: %v", f, err)
		}
	}
	// Man pages from the same text as --help, where man finds them for
	// PREFIX/bin: PREFIX/share/man.
	for name, want := range map[string]string{"dbx-cred": "auth token", "dbx-credd": "dbx-credd run"} {
		page := filepath.Join(filepath.Dir(prefix), "share", "man", "man1", name+".1")
		b, err := os.ReadFile(page)
		if err != nil || !strings.HasPrefix(string(b), ".TH ") || !strings.Contains(string(b), strings.ReplaceAll(want, "-", `\-`)) {
			t.Errorf("install.sh did not install %s: %v", page, err)
			continue
		}
		if _, err := exec.LookPath("man"); err == nil {
			out, err := exec.Command("man", "-l", page).Output()
			if err != nil || !strings.Contains(string(out), want) {
				t.Errorf("man -l %s: %v\n%s", page, err, out)
			}
		}
	}

	gitEnv := []string{"PATH=" + prefix + ":" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"XDG_RUNTIME_DIR=" + w.env["XDG_RUNTIME_DIR"], "DBX_CRED_NO_AUTOSTART=1"}
	fill := func(helper string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", "-c", "credential.helper=", "-c", "credential.helper="+helper, "credential", "fill")
		cmd.Env = gitEnv
		cmd.Stdin = strings.NewReader("url=" + w.srv.URL + "/repo.git\n\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, helper := range []string{"dbx-cred -p prod", "dbx-cred"} {
		out, err := fill(helper)
		if err != nil || !strings.Contains(out, "username=token\n") || !regexp.MustCompile(`(?m)^password=dapi[0-9a-f]{32}$`).MatchString(out) {
			t.Fatalf("git credential fill via credential.helper %q: %v\n%s", helper, err, out)
		}
		if strings.Contains(out, w.pat) {
			t.Fatal("git got the stored token, not a minted one")
		}
	}
}

// Two profiles on one host and a helper that names none: the error gives
// the git config lines that pick one, and they work as given.
func TestGitSharedHostErrorNamesTheFix(t *testing.T) {
	requireTools(t, "git")
	w := newWorld(t)
	w.startDaemon()
	w.login("alpha")
	w.login("beta")
	link := filepath.Join(w.root, "bin", "git-credential-dbx-cred")
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(built.helper, link); err != nil {
		t.Fatal(err)
	}
	home := w.env["HOME"]
	env := []string{"PATH=" + filepath.Dir(link) + ":" + built.dir + ":" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "XDG_RUNTIME_DIR=" + w.env["XDG_RUNTIME_DIR"], "DBX_CRED_NO_AUTOSTART=1"}
	git := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := git("", "config", "--global", "credential.helper", "dbx-cred"); err != nil {
		t.Fatal(out)
	}
	req := "url=" + w.srv.URL + "/repo.git\n\n"
	out, _ := git(req, "credential", "fill")
	wantLines := []string{
		"git config --global credential." + w.srv.URL + ".helper ''",
		"git config --global --add credential." + w.srv.URL + ".helper \"dbx-cred -p alpha\"",
	}
	if !strings.Contains(out, "dbx-cred git: several profiles use host "+w.srv.URL+" (alpha, beta)") {
		t.Fatalf("fill with a shared host:\n%s", out)
	}
	for _, l := range wantLines {
		if !strings.Contains(out, "  "+l+"\n") {
			t.Fatalf("the error lacks the line %q:\n%s", l, out)
		}
		// Run it as a shell would, in this test's HOME.
		sh := exec.Command("bash", "-c", l)
		sh.Env = env
		if o, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", l, err, o)
		}
	}
	out, err := git(req, "credential", "fill")
	if err != nil || !strings.Contains(out, "username=token\n") || strings.Contains(out, "several profiles") {
		t.Fatalf("fill after the suggested lines: %v\n%s", err, out)
	}
}
