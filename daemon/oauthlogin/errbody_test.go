package oauthlogin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// A token endpoint's error body is the server's to choose: what reaches
// the error (and so the log and the client) is one bounded line.
func TestExchangeErrorBodyIsBounded(t *testing.T) {
	// 64 KiB: within what oauth2 reads (1 MiB), so the JSON parses and
	// the description is the server's text.
	junk := strings.Repeat("line\n\x1b[31mforged=log \u202e", 64<<10/20)
	for name, h := range map[string]http.HandlerFunc{
		"json description": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant" + junk[:2000], "error_description": junk})
		},
		"text body": func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(junk))
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			cfg := oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
			_, err := cfg.Exchange(context.Background(), "code")
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("Exchange = %v", err)
			}
			msg := exchangeError(context.Background(), srv.URL, err).Error()
			if len(msg) > 2048 || strings.ContainsAny(msg, "\n\r\x1b\u202e") {
				t.Fatalf("%d bytes, or a control character, kept: %q", len(msg), msg[:min(len(msg), 300)])
			}
		})
	}
}
