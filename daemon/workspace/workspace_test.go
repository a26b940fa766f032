package workspace

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

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
