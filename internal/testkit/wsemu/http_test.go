package wsemu

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	tokenValueRE = regexp.MustCompile(`^dapi[0-9a-f]{32}$`)
	tokenIDRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	digitsRE     = regexp.MustCompile(`^[1-9][0-9]+$`)
)

func TestHostMetadata(t *testing.T) {
	emu, srv, _ := start(t)
	r := call(t, srv, http.MethodGet, pathHostMetadata, "", "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d body %s", r.status, r.raw)
	}
	want := map[string]any{
		"oidc_endpoint": srv.URL + "/oidc",
		"workspace_id":  emu.WorkspaceID(),
		"cloud":         "AWS",
		"host_type":     "WORKSPACE_HOST",
	}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("%s = %#v, want %#v", k, r.body[k], v)
		}
	}
	if !digitsRE.MatchString(emu.WorkspaceID()) {
		t.Errorf("workspace id %q is not digits", emu.WorkspaceID())
	}
	aud, _ := r.body["token_federation_default_oidc_audiences"].([]any)
	if len(aud) != 1 || aud[0] != srv.URL+"/oidc/v1/token" {
		t.Errorf("audiences = %#v", aud)
	}
}

func TestMe(t *testing.T) {
	emu, srv, pat := start(t, WithWorkspaceID("1234567890123456"))
	r := call(t, srv, http.MethodGet, pathMe, pat, "")
	if r.status != http.StatusOK {
		t.Fatalf("status %d body %s", r.status, r.raw)
	}
	if r.body["userName"] != alice || r.body["active"] != true || r.body["displayName"] != "alice" {
		t.Errorf("unexpected Me body %s", r.raw)
	}
	if id, _ := r.body["id"].(string); !digitsRE.MatchString(id) {
		t.Errorf("id %q", id)
	}
	emails, _ := r.body["emails"].([]any)
	if len(emails) != 1 || emails[0].(map[string]any)["value"] != alice || emails[0].(map[string]any)["primary"] != true {
		t.Errorf("emails = %#v", emails)
	}
	if s, _ := r.body["schemas"].([]any); len(s) == 0 {
		t.Errorf("no schemas in %s", r.raw)
	}
	if got := r.header.Get("X-Databricks-Org-Id"); got != emu.WorkspaceID() {
		t.Errorf("X-Databricks-Org-Id = %q", got)
	}
}

func TestErrorShapes(t *testing.T) {
	const (
		noCred  = "Credential was not sent or was of an unsupported type for this API."
		invalid = "Invalid access token."
	)
	tests := []struct {
		name          string
		opts          []Option
		method, path  string
		token         string // "$pat" = alice's PAT, "$revoked" = a revoked PAT
		authorization string // raw Authorization header, overrides token
		body          string
		status        int
		code          any
		message       string
		header        map[string]string
	}{
		{name: "no credential", method: "GET", path: pathMe,
			status: 401, code: 401.0, message: noCred},
		{name: "basic with a password", method: "GET", path: pathTokenList,
			authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret")),
			status:        401, code: 401.0, message: noCred},
		{name: "empty bearer", method: "GET", path: pathMe, authorization: "Bearer ",
			status: 401, code: 401.0, message: noCred},
		{name: "unknown token", method: "GET", path: pathMe, token: "dapi" + strings.Repeat("0", 32),
			status: 403, code: 403.0, message: invalid,
			header: map[string]string{"X-Databricks-Reason-Phrase": invalid}},
		{name: "revoked token", method: "POST", path: pathTokenCreate, token: "$revoked", body: "{}",
			status: 403, code: 403.0, message: invalid,
			header: map[string]string{"X-Databricks-Reason-Phrase": invalid}},
		{name: "auth before routing", method: "GET", path: "/api/2.0/clusters/list",
			status: 401, code: 401.0, message: noCred},
		{name: "unknown api path", method: "GET", path: "/api/2.0/clusters/list", token: "$pat",
			status: 404, code: "ENDPOINT_NOT_FOUND", message: "No API found for 'GET /api/2.0/clusters/list'"},
		{name: "unknown non-api path", method: "GET", path: "/nope",
			status: 404, code: "ENDPOINT_NOT_FOUND", message: "No API found for 'GET /nope'"},
		{name: "wrong method", method: "GET", path: pathTokenCreate, token: "$pat",
			status: 405, code: "METHOD_NOT_ALLOWED", header: map[string]string{"Allow": "POST"}},
		{name: "wrong method on metadata", method: "POST", path: pathHostMetadata,
			status: 405, code: "METHOD_NOT_ALLOWED", header: map[string]string{"Allow": "GET"}},
		{name: "create bad json", method: "POST", path: pathTokenCreate, token: "$pat", body: "{",
			status: 400, code: "MALFORMED_REQUEST"},
		{name: "create wrong type", method: "POST", path: pathTokenCreate, token: "$pat", body: `{"lifetime_seconds":"1h"}`,
			status: 400, code: "MALFORMED_REQUEST"},
		{name: "create not an object", method: "POST", path: pathTokenCreate, token: "$pat", body: `[1]`,
			status: 400, code: "MALFORMED_REQUEST"},
		{name: "create negative lifetime", method: "POST", path: pathTokenCreate, token: "$pat", body: `{"lifetime_seconds":-5}`,
			status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "create beyond max lifetime", method: "POST", path: pathTokenCreate, token: "$pat",
			opts:   []Option{WithMaxLifetime(24 * time.Hour)},
			body:   `{"lifetime_seconds":86401}`,
			status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "create beyond default max lifetime", method: "POST", path: pathTokenCreate, token: "$pat",
			body:   `{"lifetime_seconds":63072001}`,
			status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "scopes unsupported", method: "POST", path: pathTokenCreate, token: "$pat",
			opts: []Option{WithoutScopes()}, body: `{"scopes":["sql"]}`,
			status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "creation disabled", method: "POST", path: pathTokenCreate, token: "$pat",
			opts: []Option{WithTokenCreationDisabled()}, body: `{"lifetime_seconds":60}`,
			status: 403, code: "PERMISSION_DENIED"},
		{name: "delete unknown id", method: "POST", path: pathTokenDelete, token: "$pat",
			body:   `{"token_id":"` + strings.Repeat("ab", 32) + `"}`,
			status: 404, code: "RESOURCE_DOES_NOT_EXIST"},
		{name: "delete without id", method: "POST", path: pathTokenDelete, token: "$pat", body: `{}`,
			status: 400, code: "INVALID_PARAMETER_VALUE"},
		{name: "delete bad json", method: "POST", path: pathTokenDelete, token: "$pat", body: `token_id=1`,
			status: 400, code: "MALFORMED_REQUEST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv, pat := start(t, tc.opts...)
			token := tc.token
			switch token {
			case "$pat":
				token = pat
			case "$revoked":
				token, _ = emu.CreatePAT(alice, "doomed", 0, nil)
				if !emu.RevokeToken(token) {
					t.Fatal("RevokeToken returned false for a live token")
				}
			}
			authorization := tc.authorization
			if authorization == "" && token != "" {
				authorization = "Bearer " + token
			}
			r := callAuth(t, srv, tc.method, tc.path, authorization, tc.body)
			wantError(t, r, tc.status, tc.code, tc.message)
			for k, v := range tc.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
