package e2e

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/service/iam"
)

// cliHookEnv isolates the SDK in this process from the machine (HOME,
// DATABRICKS_* variables) and gives the dbx-cred it runs what it needs to
// find the world's daemon: XDG_RUNTIME_DIR, nothing Databricks.
func cliHookEnv(t *testing.T, w *world, databrickscfg string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DATABRICKS_") || k == "DBX_CRED_SOCKET" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", w.env["HOME"])
	t.Setenv("XDG_RUNTIME_DIR", w.env["XDG_RUNTIME_DIR"])
	cfg := filepath.Join(w.env["HOME"], ".databrickscfg")
	if err := os.WriteFile(cfg, []byte(databrickscfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABRICKS_CONFIG_FILE", cfg)
}

func sdkCurrentUser(t *testing.T, cfg *databricks.Config) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg.RetryTimeoutSeconds = 20
	ws, err := databricks.NewWorkspaceClient(cfg)
	if err != nil {
		return "", err
	}
	me, err := ws.CurrentUser.Me(ctx, iam.MeRequest{})
	if err != nil {
		return "", err
	}
	return me.UserName, nil
}

// TestSDKUsesDbxCredAsItsDatabricksCLI runs databricks-sdk-go v0.175.0 with
// auth_type databricks-cli and databricks_cli_path pointing at the built
// dbx-cred: the SDK runs "dbx-cred version" and "dbx-cred auth token", then
// calls SCIM Me with the token.
func TestSDKUsesDbxCredAsItsDatabricksCLI(t *testing.T) {
	w := newWorld(t)
	w.startDaemon()
	w.login("prod")
	// A second address for the same emulator: the .databrickscfg profile
	// points there, so no dbx-cred profile has its host. Only "auth token
	// --profile prod" can then succeed, which the SDK uses only when it
	// parsed "dbx-cred version" as a CLI >= v0.207.1; with the version
	// unparsed it would fall back to --host and fail.
	alias := httptest.NewServer(w.emu)
	t.Cleanup(alias.Close)
	cliHookEnv(t, w, "[prod]\nhost = "+alias.URL+"\nauth_type = databricks-cli\ndatabricks_cli_path = "+built.helper+"\n")

	t.Run("profile from .databrickscfg", func(t *testing.T) {
		user, err := sdkCurrentUser(t, &databricks.Config{Profile: "prod"})
		if err != nil || user != w.user {
			t.Fatalf("Me: %q, %v", user, err)
		}
	})
	t.Run("host only", func(t *testing.T) {
		// No profile: the SDK asks "auth token --host", dbx-cred finds the
		// profile by host.
		user, err := sdkCurrentUser(t, &databricks.Config{Host: w.srv.URL, AuthType: "databricks-cli", DatabricksCliPath: built.helper})
		if err != nil || user != w.user {
			t.Fatalf("Me: %q, %v", user, err)
		}
	})
	t.Run("unknown profile fails with dbx-cred's message", func(t *testing.T) {
		cliHookEnv(t, w, "[nope]\nhost = "+w.srv.URL+"\nauth_type = databricks-cli\ndatabricks_cli_path = "+built.helper+"\n")
		_, err := sdkCurrentUser(t, &databricks.Config{Profile: "nope"})
		if err == nil || !strings.Contains(err.Error(), `unknown profile "nope"`) {
			t.Fatalf("err = %v", err)
		}
	})
	w.stopDaemon()
	w.assertNoSecretOnDisk(w.pat)
}
