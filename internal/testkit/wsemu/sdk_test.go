package wsemu

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/databricks/databricks-sdk-go"
	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/service/iam"
	"github.com/databricks/databricks-sdk-go/service/settings"
)

// isolateSDK keeps the machine's ~/.databrickscfg and DATABRICKS_* variables
// out of the SDK's config resolution.
func isolateSDK(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DATABRICKS_") {
			t.Setenv(k, "") // registers restoration
			os.Unsetenv(k)
		}
	}
	t.Setenv("DATABRICKS_CONFIG_FILE", filepath.Join(home, "no-such-databrickscfg"))
}

// headerLog records request headers per path, to see what the SDK sends.
type headerLog struct {
	mu   sync.Mutex
	next http.Handler
	seen map[string][]http.Header
}

func (h *headerLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen[r.URL.Path] = append(h.seen[r.URL.Path], r.Header.Clone())
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func (h *headerLog) first(path string) http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen[path]) == 0 {
		return nil
	}
	return h.seen[path][0]
}

func startForSDK(t *testing.T, opts ...Option) (*Emulator, *httptest.Server, *headerLog, string) {
	t.Helper()
	isolateSDK(t)
	emu := New(opts...)
	pat := emu.AddUser(alice)
	log := &headerLog{next: emu, seen: map[string][]http.Header{}}
	srv := httptest.NewServer(log)
	t.Cleanup(srv.Close)
	return emu, srv, log, pat
}

func sdkClient(t *testing.T, host, token string, retryTimeoutSeconds int) *databricks.WorkspaceClient {
	t.Helper()
	w, err := databricks.NewWorkspaceClient(&databricks.Config{
		Host:                host,
		Token:               token,
		AuthType:            "pat",
		RetryTimeoutSeconds: retryTimeoutSeconds,
	})
	if err != nil {
		t.Fatalf("NewWorkspaceClient: %v", err)
	}
	return w
}

func TestSDKCompatibility(t *testing.T) {
	emu, srv, log, pat := startForSDK(t)
	ctx := t.Context()
	w := sdkClient(t, srv.URL, pat, 5)

	// The SDK fetches host metadata while resolving its config, before any
	// API call, and adopts the workspace id from it.
	if n := emu.Requests("GET", pathHostMetadata); n != 1 {
		t.Errorf("host metadata fetched %d times by NewWorkspaceClient, want 1", n)
	}
	if w.Config.WorkspaceID != emu.WorkspaceID() {
		t.Errorf("SDK workspace id %q, want %q", w.Config.WorkspaceID, emu.WorkspaceID())
	}

	me, err := w.CurrentUser.Me(ctx, iam.MeRequest{})
	if err != nil {
		t.Fatalf("Me: %v", err)
	}
	if me.UserName != alice || !me.Active || len(me.Emails) != 1 || me.Emails[0].Value != alice {
		t.Errorf("Me = %+v", me)
	}
	h := log.first(pathMe)
	if ua := h.Get("User-Agent"); !strings.Contains(ua, "databricks-sdk-go/0.175.0") || !strings.Contains(ua, "auth/pat") {
		t.Errorf("User-Agent %q", ua)
	}
	if got := h.Get("X-Databricks-Workspace-Id"); got != emu.WorkspaceID() {
		t.Errorf("X-Databricks-Workspace-Id %q", got)
	}
	wsID, err := w.CurrentWorkspaceID(ctx)
	if err != nil || strconv.FormatInt(wsID, 10) != emu.WorkspaceID() {
		t.Errorf("CurrentWorkspaceID = %d, %v", wsID, err)
	}

	created, err := w.Tokens.Create(ctx, settings.CreateTokenRequest{LifetimeSeconds: 3600, Comment: "minted by sdk"})
	if err != nil {
		t.Fatalf("Tokens.Create: %v", err)
	}
	if !tokenValueRE.MatchString(created.TokenValue) || created.TokenInfo == nil {
		t.Fatalf("Create = %+v", created)
	}
	ti := created.TokenInfo
	if ti.Comment != "minted by sdk" || ti.ExpiryTime-ti.CreationTime != 3600_000 || !tokenIDRE.MatchString(ti.TokenId) {
		t.Errorf("TokenInfo = %+v", ti)
	}

	all, err := w.Tokens.ListAll(ctx)
	if err != nil {
		t.Fatalf("Tokens.ListAll: %v", err)
	}
	var ids []string
	var rootExpiry int64
	for _, info := range all {
		ids = append(ids, info.TokenId)
		if info.Comment == "root" {
			rootExpiry = info.ExpiryTime
		}
	}
	if len(all) != 2 || !strings.Contains(strings.Join(ids, ","), ti.TokenId) || rootExpiry != -1 {
		t.Errorf("ListAll = %+v", all)
	}

	minted := sdkClient(t, srv.URL, created.TokenValue, 5)
	if me, err := minted.CurrentUser.Me(ctx, iam.MeRequest{}); err != nil || me.UserName != alice {
		t.Fatalf("Me with minted token: %+v, %v", me, err)
	}

	if err := w.Tokens.Delete(ctx, settings.RevokeTokenRequest{TokenId: ti.TokenId}); err != nil {
		t.Fatalf("Tokens.Delete: %v", err)
	}
	_, err = minted.CurrentUser.Me(ctx, iam.MeRequest{})
	var apiErr *apierr.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("Me with deleted token: err %v (%T), want *apierr.APIError", err, err)
	}
	if apiErr.StatusCode != 403 || apiErr.ErrorCode != "403" || apiErr.Message != "Invalid access token." {
		t.Errorf("APIError = status %d code %q message %q", apiErr.StatusCode, apiErr.ErrorCode, apiErr.Message)
	}
	if !errors.Is(err, apierr.ErrPermissionDenied) {
		t.Errorf("403 does not map to apierr.ErrPermissionDenied: %v", err)
	}

	err = w.Tokens.Delete(ctx, settings.RevokeTokenRequest{TokenId: ti.TokenId})
	if !errors.Is(err, apierr.ErrResourceDoesNotExist) {
		t.Errorf("second delete: %v, want ErrResourceDoesNotExist", err)
	}
}

func TestSDKErrors(t *testing.T) {
	t.Run("quota", func(t *testing.T) {
		_, srv, _, pat := startForSDK(t, WithQuota(1))
		_, err := sdkClient(t, srv.URL, pat, 5).Tokens.Create(t.Context(), settings.CreateTokenRequest{LifetimeSeconds: 60})
		var apiErr *apierr.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.ErrorCode != "QUOTA_EXCEEDED" {
			t.Errorf("err = %#v", err)
		}
	})
	t.Run("lifetime too long", func(t *testing.T) {
		_, srv, _, pat := startForSDK(t, WithMaxLifetime(time.Hour))
		_, err := sdkClient(t, srv.URL, pat, 5).Tokens.Create(t.Context(), settings.CreateTokenRequest{LifetimeSeconds: 7200})
		if !errors.Is(err, apierr.ErrInvalidParameterValue) {
			t.Errorf("err = %v, want ErrInvalidParameterValue", err)
		}
	})
	t.Run("creation disabled", func(t *testing.T) {
		_, srv, _, pat := startForSDK(t, WithTokenCreationDisabled())
		_, err := sdkClient(t, srv.URL, pat, 5).Tokens.Create(t.Context(), settings.CreateTokenRequest{})
		var apiErr *apierr.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || apiErr.ErrorCode != "PERMISSION_DENIED" {
			t.Errorf("err = %#v", err)
		}
	})
}

func TestSDKRetries(t *testing.T) {
	t.Run("429 is retried", func(t *testing.T) {
		emu, srv, _, pat := startForSDK(t)
		w := sdkClient(t, srv.URL, pat, 30)
		emu.InjectFault(Fault{Path: pathTokenList, Status: 429, RetryAfter: 2 * time.Second, Times: 1})
		if _, err := w.Tokens.ListAll(t.Context()); err != nil {
			t.Fatalf("ListAll after one 429: %v", err)
		}
		if n := emu.Requests("GET", pathTokenList); n != 2 {
			t.Errorf("list requests %d, want 2 (one 429, one retry)", n)
		}
	})
	t.Run("503 until the retry timeout", func(t *testing.T) {
		emu, srv, _, pat := startForSDK(t)
		w := sdkClient(t, srv.URL, pat, 1)
		emu.InjectFault(Fault{Path: pathMe, Status: 503})
		begin := time.Now()
		_, err := w.CurrentUser.Me(t.Context(), iam.MeRequest{})
		var apiErr *apierr.APIError
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.ErrorCode != "TEMPORARILY_UNAVAILABLE" {
			t.Errorf("err = %#v", err)
		}
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("gave up after %s despite RetryTimeoutSeconds=1", d)
		}
		if n := emu.Requests("GET", pathMe); n < 1 {
			t.Errorf("Me requests %d", n)
		}
	})
	t.Run("500 is not retried", func(t *testing.T) {
		emu, srv, _, pat := startForSDK(t)
		w := sdkClient(t, srv.URL, pat, 30)
		emu.InjectFault(Fault{Path: pathMe, Status: 500})
		_, err := w.CurrentUser.Me(t.Context(), iam.MeRequest{})
		if !errors.Is(err, apierr.ErrInternalError) {
			t.Errorf("err = %v", err)
		}
		if n := emu.Requests("GET", pathMe); n != 1 {
			t.Errorf("Me requests %d, want 1", n)
		}
	})
	t.Run("metadata outage is tolerated", func(t *testing.T) {
		emu, srv, _, pat := startForSDK(t)
		emu.InjectFault(Fault{Path: pathHostMetadata, Status: 500})
		w := sdkClient(t, srv.URL, pat, 1)
		if _, err := w.CurrentUser.Me(t.Context(), iam.MeRequest{}); err != nil {
			t.Errorf("Me without host metadata: %v", err)
		}
		if w.Config.WorkspaceID != "" {
			t.Errorf("workspace id %q resolved despite metadata outage", w.Config.WorkspaceID)
		}
	})
}
