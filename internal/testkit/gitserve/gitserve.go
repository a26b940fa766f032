// Package gitserve serves one bare git repository over smart HTTP with git's
// own git-http-backend, behind Basic auth whose password must be a token the
// caller's authenticate function accepts. It lets the workspace emulator (and
// the end-to-end tests) stand in for a Databricks Git host, so the git
// credential helper is exercised against real git on both ends.
package gitserve

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Authenticate reports whose token password is, and whether it is valid.
type Authenticate func(password string) (user string, ok bool)

// Backend finds git-http-backend; it lives in git's exec path, not on PATH.
func Backend() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return "", fmt.Errorf("git-http-backend is missing: %w", err)
	}
	return backend, nil
}

// New serves the bare repository at bare under the URL path "/<base name>/"
// (so /srv/repo.git is cloned from http://HOST/repo.git), which it returns
// for mounting on a mux next to the emulator. Requests without Basic auth,
// or whose password authenticate refuses, get 401 with a challenge, which is
// what makes git ask its credential helper.
func New(bare string, authenticate Authenticate) (prefix string, h http.Handler, err error) {
	if authenticate == nil {
		return "", nil, errors.New("gitserve: authenticate is nil")
	}
	abs, err := filepath.Abs(bare)
	if err != nil {
		return "", nil, err
	}
	if fi, err := os.Stat(filepath.Join(abs, "HEAD")); err != nil || fi.IsDir() {
		return "", nil, fmt.Errorf("gitserve: %s is not a bare git repository", bare)
	}
	backend, err := Backend()
	if err != nil {
		return "", nil, err
	}
	name := filepath.Base(abs)
	// The name becomes a ServeMux pattern, where spaces and braces mean
	// something; plain names are all a test double needs.
	if strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return "", nil, fmt.Errorf("gitserve: repository name %q: use letters, digits, '.', '_' and '-'", name)
	}
	prefix = "/" + name + "/"
	base := cgi.Handler{Path: backend, Root: "/", Env: []string{
		"GIT_PROJECT_ROOT=" + filepath.Dir(abs), "GIT_HTTP_EXPORT_ALL=1",
	}}
	return prefix, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, password, ok := r.BasicAuth()
		var user string
		if ok {
			user, ok = authenticate(password)
		}
		if !ok {
			rw.Header().Set("WWW-Authenticate", `Basic realm="dbx-cred emulated git"`)
			http.Error(rw, "authentication required", http.StatusUnauthorized)
			return
		}
		// git-http-backend allows pushes only from an authenticated user,
		// which it learns from REMOTE_USER; net/http/cgi does not set it.
		cgiHandler := base
		cgiHandler.Env = append([]string{"REMOTE_USER=" + user}, base.Env...)
		cgiHandler.ServeHTTP(rw, r)
	}), nil
}
