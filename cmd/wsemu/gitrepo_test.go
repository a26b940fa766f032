package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/gitserve"
)

// With --git-repo the banner names the repository's URL, which answers git
// only with a token the emulator issued, while the API keeps working.
func TestGitRepoIsServedBehindTheEmulatorsTokens(t *testing.T) {
	if _, err := gitserve.Backend(); err != nil {
		t.Skip(err)
	}
	bare := filepath.Join(t.TempDir(), "demo.git")
	if out, err := exec.Command("git", "init", "--quiet", "--bare", bare).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--git-repo", bare}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`^host=(\S+) user=\S+ pat=(dapi[0-9a-f]{32}) account=[0-9a-f-]{36} git=(\S+/demo\.git)\n$`).FindStringSubmatch(line)
	if m == nil || !strings.HasPrefix(m[3], m[1]+"/") {
		t.Fatalf("banner %q", line)
	}
	refs := func(password string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m[3]+"/info/refs?service=git-upload-pack", nil)
		req.SetBasicAuth("token", password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := refs("dapi-not-issued-here"); got != http.StatusUnauthorized {
		t.Errorf("unknown token: %d", got)
	}
	if got := refs(m[2]); got != http.StatusOK {
		t.Errorf("the emulator's PAT: %d", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}

func TestGitRepoMustBeABareRepository(t *testing.T) {
	err := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--git-repo", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a bare git repository") {
		t.Fatalf("err = %v", err)
	}
}
