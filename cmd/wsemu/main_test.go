package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestHelpSaysTestDouble(t *testing.T) {
	var out, errOut strings.Builder
	err := run(t.Context(), []string{"--help"}, &out, &errOut)
	if !errors.Is(err, pflag.ErrHelp) {
		t.Fatalf("err = %v, want pflag.ErrHelp", err)
	}
	// The help is the answer: on stdout, every flag written as the usage
	// line writes it (--listen, never -listen).
	if !strings.Contains(out.String(), "TEST DOUBLE") || !strings.Contains(out.String(), "--listen string") ||
		strings.Contains(out.String(), "  -listen") || errOut.Len() != 0 {
		t.Errorf("help text:\n%s\nstderr: %q", out.String(), errOut.String())
	}
	if err := run(t.Context(), []string{"--nope"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "wsemu --help") {
		t.Errorf("unknown flag: %v", err)
	}
}

func TestServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--user", "bob@example.com"}, pw, io.Discard)
		pw.Close()
	}()

	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading banner: %v", err)
	}
	m := regexp.MustCompile(`^host=(http://127\.0\.0\.1:\d+) user=bob@example\.com pat=(dapi[0-9a-f]{32}) account=[0-9a-f-]{36}\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("banner %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // drain until run closes the pipe

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m[1]+"/api/2.0/preview/scim/v2/Me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m[2])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Me status %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop after cancel")
	}
}

func TestServesOAuth(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--account-id", "acc-1",
			"--service-principal", "sp-app:s3cret", "--oauth-access-lifetime", "20s", "--oauth-revocation"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading banner: %v", err)
	}
	m := regexp.MustCompile(`^host=(\S+) .* account=acc-1\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("banner %q", line)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	for _, path := range []string{"/oidc/v1/token", "/oidc/accounts/acc-1/v1/token"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m[1]+path,
			strings.NewReader("grant_type=client_credentials&scope=all-apis"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("sp-app", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" || tok.ExpiresIn != 20 {
			t.Errorf("%s: %d %+v %v", path, resp.StatusCode, tok, err)
		}
	}
	var doc struct {
		Revocation string `json:"revocation_endpoint"`
	}
	resp, err := http.Get(m[1] + "/oidc/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || doc.Revocation != m[1]+"/oidc/v1/revoke" {
		t.Errorf("--oauth-revocation: discovery names %q (%v)", doc.Revocation, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRejectsBadServicePrincipalFlag(t *testing.T) {
	err := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--service-principal", "no-secret"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "APPID:SECRET") {
		t.Errorf("err = %v", err)
	}
}
