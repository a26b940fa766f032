package workspace

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/wsemu"
)

// isolate keeps the SDK from reading the machine's config; the client is
// built to ignore it anyway, and this proves it: a hostile config file and
// environment must not change the answer.
func isolate(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/databrickscfg"
	os.WriteFile(cfg, []byte("[DEFAULT]\nhost = http://127.0.0.1:1\ntoken = dapi-from-file\n"), 0o600)
	t.Setenv("HOME", dir)
	t.Setenv("DATABRICKS_CONFIG_FILE", cfg)
	t.Setenv("DATABRICKS_HOST", "http://127.0.0.1:1")
	t.Setenv("DATABRICKS_TOKEN", "dapi-from-env")
	t.Setenv("DATABRICKS_AUTH_TYPE", "basic")
}

func TestMe(t *testing.T) {
	isolate(t)
	emu := wsemu.New()
	srv := httptest.NewServer(emu)
	defer srv.Close()
	pat := emu.AddUser("alice@example.com")
	c := New(0)
	ctx := context.Background()

	u, err := c.Me(ctx, srv.URL, pat)
	if err != nil || u.UserName != "alice@example.com" {
		t.Fatalf("Me = %+v, %v", u, err)
	}
	_, err = c.Me(ctx, srv.URL, "dapi00000000000000000000000000000000")
	if !errors.Is(err, ErrRejected) || strings.Contains(err.Error(), "dapi0000") {
		t.Fatalf("bad token: %v", err)
	}
	emu.RevokeToken(pat)
	if _, err = c.Me(ctx, srv.URL, pat); !errors.Is(err, ErrRejected) {
		t.Fatalf("revoked token: %v", err)
	}
	var ue *UnreachableError
	if _, err = c.Me(ctx, "http://127.0.0.1:1", pat); !errors.As(err, &ue) || !strings.Contains(err.Error(), "http://127.0.0.1:1") {
		t.Fatalf("unreachable: %v", err)
	}
}

// https:// to a server that speaks plain HTTP gets a plain message: what
// answered, and the address to give instead.
func TestHTTPSToAPlainHTTPServerSaysSo(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(wsemu.New())
	defer srv.Close()
	host := strings.Replace(srv.URL, "http://", "https://", 1)
	_, err := New(0).Me(context.Background(), host, "dapi-x")
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "answers plain HTTP, not HTTPS") || !strings.Contains(err.Error(), "("+srv.URL+")") {
		t.Fatalf("Me over https to an http server = %v", err)
	}
}

// A workspace that takes the connection and answers nothing is reported by
// the wait the caller saw, not by the SDK's per-try "timed out after 30s of
// inactivity" (which read as 30 s after a minute of retries).
func TestSilentWorkspaceStatesTheRealWait(t *testing.T) {
	isolate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	host := "http://" + ln.Addr().String()
	// The SDK takes its bound in whole seconds.
	c := New(2 * time.Second)
	c.answerTimeout, c.http.Timeout = time.Second, time.Second

	for name, call := range map[string]func() error{
		"Me":        func() error { _, err := c.Me(context.Background(), host, "dapi-x"); return err },
		"AccountMe": func() error { _, err := c.AccountMe(context.Background(), host, "acc", "dapi-x"); return err },
		"Token API": func() error { _, err := c.Tokens(host, "dapi-x").List(context.Background()); return err },
	} {
		err := call()
		var ue *UnreachableError
		if !errors.As(err, &ue) || !ue.Silent {
			t.Fatalf("%s: %v, want a silent UnreachableError", name, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "inactivity") || !strings.Contains(msg, "sent no answer") || !strings.Contains(msg, "no answer in 1s") {
			t.Errorf("%s: %q", name, msg)
		}
		if ue.Waited < time.Second {
			t.Errorf("%s: Waited = %v", name, ue.Waited)
		}
		t.Logf("%s: %s", name, msg)
	}
}
