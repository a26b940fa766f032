package wsemu

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const alice = "alice@example.com"

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start serves a new emulator with alice as its only user.
func start(t *testing.T, opts ...Option) (emu *Emulator, srv *httptest.Server, pat string) {
	t.Helper()
	emu = New(opts...)
	pat = emu.AddUser(alice)
	srv = httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, pat
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call sends one request; token "" sends no Authorization header, body ""
// sends no body.
func call(t *testing.T, srv *httptest.Server, method, path, token, body string) response {
	t.Helper()
	authorization := ""
	if token != "" {
		authorization = "Bearer " + token
	}
	return callAuth(t, srv, method, path, authorization, body)
}

// callAuth is call with a raw Authorization header ("" = none).
func callAuth(t *testing.T, srv *httptest.Server, method, path, authorization, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatalf("building %s %s: %v", method, path, err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
	}
	return r
}

// createToken calls token/create and decodes the success body.
func createToken(t *testing.T, srv *httptest.Server, pat, body string) (value string, info TokenInfo) {
	t.Helper()
	r := call(t, srv, http.MethodPost, pathTokenCreate, pat, body)
	if r.status != http.StatusOK {
		t.Fatalf("create: status %d body %s", r.status, r.raw)
	}
	var out createResponse
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatalf("decoding create response %s: %v", r.raw, err)
	}
	return out.TokenValue, out.TokenInfo
}

func listTokens(t *testing.T, srv *httptest.Server, pat string) []TokenInfo {
	t.Helper()
	r := call(t, srv, http.MethodGet, pathTokenList, pat, "")
	if r.status != http.StatusOK {
		t.Fatalf("list: status %d body %s", r.status, r.raw)
	}
	var out struct {
		TokenInfos []TokenInfo `json:"token_infos"`
	}
	if err := json.Unmarshal(r.raw, &out); err != nil {
		t.Fatalf("decoding list response %s: %v", r.raw, err)
	}
	return out.TokenInfos
}

func hasToken(infos []TokenInfo, id string) bool {
	for _, i := range infos {
		if i.TokenID == id {
			return true
		}
	}
	return false
}

// wantError checks a Databricks error response. code is a string error_code
// or a float64 for the numeric codes of the auth gateway.
func wantError(t *testing.T, r response, status int, code any, message string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.raw)
	}
	if r.body["error_code"] != code {
		t.Errorf("error_code %#v, want %#v (body %s)", r.body["error_code"], code, r.raw)
	}
	if message != "" && r.body["message"] != message {
		t.Errorf("message %#v, want %#v", r.body["message"], message)
	}
	if msg, _ := r.body["message"].(string); msg == "" {
		t.Errorf("empty message in %s", r.raw)
	}
}
