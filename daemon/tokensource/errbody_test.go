package tokensource

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hostileBody is a megabyte a token endpoint may answer: newlines that
// would forge log lines, terminal escapes, a bidi override.
var hostileBody = strings.Repeat("line\n\x1b[31mlevel=INFO msg=forged \u202e", 1<<20/32)

func hostileServer(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(hostileBody))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func checkBounded(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if len(msg) > 2048 || strings.ContainsAny(msg, "\n\r\x1b\u202e") {
		t.Fatalf("%d bytes, or a control character, of the server's body kept: %q", len(msg), msg[:min(len(msg), 300)])
	}
}

// What a refresh's error keeps of the token endpoint's answer is one
// bounded line: errors reach the log, gRPC statuses and terminals.
func TestRefreshTokenErrorBodyIsBounded(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		s := NewRefreshToken(RefreshTokenConfig{Name: "test", TokenURL: hostileServer(t, status), ClientID: "databricks-cli"}, Grant{RefreshToken: "rt", Gen: 1})
		_, err := s.Token(context.Background())
		s.Stop()
		checkBounded(t, err)
		if st := s.Status(); st.LastError != nil {
			checkBounded(t, st.LastError)
		}
	}
}

func TestClientCredentialsErrorBodyIsBounded(t *testing.T) {
	s := NewClientCredentials(ClientCredentialsConfig{TokenURL: hostileServer(t, http.StatusInternalServerError), ClientID: "sp", ClientSecret: "s"})
	_, err := s.Token(context.Background())
	checkBounded(t, err)
}
