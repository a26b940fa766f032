package gitserve

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Only the accepted token gets in, and with it both clone and push work:
// pushes need REMOTE_USER, which the handler must set itself.
func TestCloneAndPushNeedAnAcceptedToken(t *testing.T) {
	if _, err := Backend(); err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	bare := filepath.Join(root, "repo.git")
	if out, err := git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		t.Fatal(err, out)
	}
	prefix, h, err := New(bare, func(pw string) (string, bool) { return "alice", pw == "good" })
	if err != nil || prefix != "/repo.git/" {
		t.Fatalf("New = %q, %v", prefix, err)
	}
	mux := http.NewServeMux()
	mux.Handle(prefix, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	if out, err := git(t, root, "clone", "--quiet", "http://token:bad@"+host+"/repo.git", "bad"); err == nil {
		t.Fatalf("clone with a refused token worked: %s", out)
	}
	if out, err := git(t, root, "clone", "--quiet", "http://"+host+"/repo.git", "none"); err == nil {
		t.Fatalf("clone without credentials worked: %s", out)
	}
	work := filepath.Join(root, "good")
	if out, err := git(t, root, "clone", "--quiet", "http://token:good@"+host+"/repo.git", "good"); err != nil {
		t.Fatalf("clone: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(work, "f"), []byte("x\n"), 0o600)
	for _, args := range [][]string{{"add", "f"}, {"commit", "--quiet", "-m", "one"}, {"push", "--quiet", "origin", "HEAD:main"}} {
		if out, err := git(t, work, args...); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	if out, _ := git(t, root, "--git-dir", bare, "log", "--format=%s", "main"); out != "one\n" {
		t.Fatalf("the push did not land: %q", out)
	}
}

func TestRefusesWhatIsNotABareRepositoryOrAPlainName(t *testing.T) {
	ok := func(string) (string, bool) { return "", true }
	if _, _, err := New(t.TempDir(), ok); err == nil {
		t.Error("an empty directory was accepted")
	}
	spaced := filepath.Join(t.TempDir(), "a b.git")
	os.MkdirAll(spaced, 0o700)
	os.WriteFile(filepath.Join(spaced, "HEAD"), []byte("ref: refs/heads/main\n"), 0o600)
	if _, _, err := New(spaced, ok); err == nil || !strings.Contains(err.Error(), "repository name") {
		t.Errorf("a name with a space: %v", err)
	}
	if _, _, err := New(spaced, nil); err == nil {
		t.Error("a nil authenticate was accepted")
	}
}
