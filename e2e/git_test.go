package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/gitserve"
)

// gitServer serves the emulator's API and a smart-HTTP git repository
// (git's own git-http-backend) from one address, so a profile's workspace
// host is also the git host, as with Databricks Git folders. Git requests
// need Basic auth whose password the emulator accepts as a token.
type gitServer struct {
	srv      *httptest.Server
	bare     string
	mu       sync.Mutex
	accepted []string // user names the accepted tokens belong to
	refused  int
}

func newGitServer(t *testing.T, w *world) *gitServer {
	t.Helper()
	requireTools(t, "git")
	if _, err := gitserve.Backend(); err != nil {
		t.Skip(err)
	}
	g := &gitServer{bare: filepath.Join(w.root, "srv", "repo.git")}
	gitRun(t, nil, "", "init", "--quiet", "--bare", "--initial-branch=main", g.bare)
	prefix, handler, err := gitserve.New(g.bare, func(password string) (string, bool) {
		user, valid := w.emu.Authenticate(password)
		g.mu.Lock()
		defer g.mu.Unlock()
		if valid {
			g.accepted = append(g.accepted, user)
		} else {
			g.refused++
		}
		return user, valid
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix, handler)
	mux.Handle("/", w.emu)
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// gitRun runs git with env (nil: a minimal one) in dir and fails on error.
func gitRun(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	out, err := gitTry(env, dir, args...)
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return out
}

func gitTry(env []string, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	if env == nil {
		env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGitCloneAndPushThroughTheCredentialHelper(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	g := newGitServer(t, w)
	w.mustHelper(w.pat+"\n", "login", "-p", "prod", "--host", g.srv.URL)

	gitEnv := append(w.environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_ASKPASS=", "SSH_ASKPASS=")
	repoURL := g.srv.URL + "/repo.git"
	work := filepath.Join(w.root, "work")
	os.MkdirAll(work, 0o700)

	// Without a helper the server refuses: the test proves something.
	if out, err := gitTry(gitEnv, work, "clone", "--quiet", repoURL, "nohelper"); err == nil {
		t.Fatalf("clone without credentials succeeded: %s", out)
	}

	// The documented per-URL setup, in the test's own HOME.
	gitconfig := fmt.Sprintf("[user]\n\tname = Alice\n\temail = %s\n[init]\n\tdefaultBranch = main\n"+
		"[credential %q]\n\thelper = \"!%s git\"\n", w.user, g.srv.URL, built.helper)
	if err := os.WriteFile(filepath.Join(w.env["HOME"], ".gitconfig"), []byte(gitconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	gitRun(t, gitEnv, work, "clone", "--quiet", repoURL, "clone")
	clone := filepath.Join(work, "clone")
	os.WriteFile(filepath.Join(clone, "README"), []byte("hello\n"), 0o600)
	gitRun(t, gitEnv, clone, "add", "README")
	gitRun(t, gitEnv, clone, "commit", "--quiet", "-m", "first")
	gitRun(t, gitEnv, clone, "push", "--quiet", "origin", "HEAD:main")

	// The push landed in the server's repository.
	if log := gitRun(t, nil, "", "--git-dir", g.bare, "log", "--format=%s", "main"); log != "first\n" {
		t.Fatalf("server repo log: %q", log)
	}
	// A second clone sees the pushed commit.
	gitRun(t, gitEnv, work, "clone", "--quiet", repoURL, "again")
	if b, err := os.ReadFile(filepath.Join(work, "again", "README")); err != nil || string(b) != "hello\n" {
		t.Fatalf("second clone: %q %v", b, err)
	}
	g.mu.Lock()
	accepted := append([]string(nil), g.accepted...)
	g.mu.Unlock()
	if len(accepted) == 0 {
		t.Fatal("the server never saw a valid token")
	}
	for _, u := range accepted {
		if u != w.user {
			t.Fatalf("a token of %q was used", u)
		}
	}
	// "store" wrote nothing anywhere: no credential file, no token in any
	// file of the world (the clones' .git/config included).
	served := gitGet(t, w, "protocol=http\nhost="+strings.TrimPrefix(g.srv.URL, "http://")+"\n\n")
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
	w.assertNoSecretOnDisk(served)
}

func TestGitHelperIsSilentForOtherHosts(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	out, errOut, code := w.helper("protocol=https\nhost=github.com\n\n", "git", "get")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("other host: %d %q %q", code, out, errOut)
	}
	host := strings.TrimPrefix(w.srv.URL, "http://")
	tok := gitGet(t, w, "protocol=http\nhost="+host+"\n\n")
	// store and erase write nothing and print nothing.
	for _, action := range []string{"store", "erase"} {
		if out := w.mustHelper("protocol=http\nhost="+host+"\nusername=token\npassword="+tok+"\n\n", "git", action); out != "" {
			t.Fatalf("%s printed %q", action, out)
		}
	}
}

// gitGet runs "dbx-cred git get" and checks the answer: username token, a
// password the workspace accepts, and an expiry in the future when given.
func gitGet(t *testing.T, w *world, in string) string {
	t.Helper()
	out := w.mustHelper(in, "git", "get")
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("git get printed %q", out)
		}
		fields[k] = v
	}
	if fields["username"] != "token" {
		t.Fatalf("git get printed %q", out)
	}
	if u, ok := w.emu.Authenticate(fields["password"]); !ok || u != w.user {
		t.Fatalf("git get's password is not a valid token of %s", w.user)
	}
	if exp, ok := fields["password_expiry_utc"]; ok {
		sec, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || time.Unix(sec, 0).Before(time.Now()) {
			t.Fatalf("password_expiry_utc %q", exp)
		}
	}
	return fields["password"]
}
