package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A workspace's error message is the server's to choose: the Token API's
// and the SDK's errors keep one bounded line of it.
func TestAPIErrorBodyIsBounded(t *testing.T) {
	isolate(t)
	junk := strings.Repeat("line\n\x1b[31mlevel=INFO msg=forged \u202e", 1<<20/32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Databricks-Reason-Phrase", "x")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error_code": "BAD" + junk[:3000], "message": junk})
	}))
	defer srv.Close()
	c := New(0)
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		msg := err.Error()
		if len(msg) > 2048 || strings.ContainsAny(msg, "\n\r\x1b\u202e") {
			t.Fatalf("%s: %d bytes, or a control character, of the server's body kept: %q", what, len(msg), msg[:min(len(msg), 300)])
		}
	}
	_, err := c.Tokens(srv.URL, "dapi-x").Create(context.Background(), 0, "c", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("Create = %v, want an APIError 400", err)
	}
	check("Token API", err)
	_, err = c.Me(context.Background(), srv.URL, "dapi-x")
	check("SCIM Me through the SDK", err)
}
