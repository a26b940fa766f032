package idtoken

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/testkit/oidcidp"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestGitHub(t *testing.T) {
	idp := oidcidp.New()
	defer idp.Close()
	ctx := context.Background()
	src, err := Parse("github", envOf(map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL": idp.RequestURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": idp.RequestToken}), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := src.IDToken(ctx, "https://ws/oidc/v1/token")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Read(jwt)
	if err != nil || c.Issuer != idp.Issuer || len(c.Audience) != 1 || c.Audience[0] != "https://ws/oidc/v1/token" || time.Until(c.Expiry) < 4*time.Minute {
		t.Fatalf("claims %+v, %v", c, err)
	}
	// Without the variables: the workflow's missing permission, named.
	src, _ = Parse("github", envOf(nil), http.DefaultClient)
	if _, err := src.IDToken(ctx, "a"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("no variables: %v", err)
	}
	// A wrong request token: the endpoint's refusal, without the token.
	src, _ = Parse("github", envOf(map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL": idp.RequestURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong"}), http.DefaultClient)
	if _, err := src.IDToken(ctx, "a"); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong request token: %v", err)
	}
}

func TestAzureDevOps(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Write([]byte(`{"oidcToken":"h.eyJpc3MiOiJhZG8ifQ.s"}`))
	}))
	defer srv.Close()
	env := map[string]string{"SYSTEM_ACCESSTOKEN": "ado-tok", "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI": srv.URL + "/org/",
		"SYSTEM_TEAMPROJECTID": "proj", "SYSTEM_HOSTTYPE": "build", "SYSTEM_PLANID": "plan", "SYSTEM_JOBID": "job"}
	src, _ := Parse("azure-devops", envOf(env), http.DefaultClient)
	jwt, err := src.IDToken(context.Background(), "")
	if err != nil || jwt != "h.eyJpc3MiOiJhZG8ifQ.s" {
		t.Fatalf("%q %v", jwt, err)
	}
	if got.Method != "POST" || got.URL.Path != "/org/proj/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken" ||
		got.URL.Query().Get("api-version") != "7.2-preview.1" || got.Header.Get("Authorization") != "Bearer ado-tok" {
		t.Errorf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	delete(env, "SYSTEM_PLANID")
	if _, err := src.IDToken(context.Background(), ""); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "SYSTEM_PLANID") {
		t.Errorf("missing variable: %v", err)
	}
}

func TestFileAndEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	src, _ := Parse("file:"+p, envOf(nil), nil)
	if _, err := src.IDToken(context.Background(), ""); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), p) {
		t.Errorf("missing file: %v", err)
	}
	os.WriteFile(p, []byte("one\n"), 0o600)
	if tok, _ := src.IDToken(context.Background(), ""); tok != "one" {
		t.Errorf("file: %q", tok)
	}
	os.WriteFile(p, []byte("two"), 0o600) // rotated: read afresh
	if tok, _ := src.IDToken(context.Background(), ""); tok != "two" {
		t.Errorf("rotated file: %q", tok)
	}
	src, _ = Parse("env:MY_JWT", envOf(map[string]string{"MY_JWT": "three"}), nil)
	if tok, _ := src.IDToken(context.Background(), ""); tok != "three" || src.String() != "env:MY_JWT" {
		t.Errorf("env: %q", tok)
	}
	for _, bad := range []string{"", "gitlab", "file:", "env:"} {
		if _, err := Parse(bad, envOf(nil), nil); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

func TestReadClaims(t *testing.T) {
	if _, err := Read("nope"); err == nil {
		t.Error("Read of a non-JWT")
	}
	c, err := Read("e30.eyJpc3MiOiJpIiwic3ViIjoicyIsImF1ZCI6WyJhIiwiYiJdLCJleHAiOjF9.x")
	if err != nil || c.Issuer != "i" || c.Subject != "s" || len(c.Audience) != 2 || c.Expiry.Unix() != 1 {
		t.Errorf("%+v %v", c, err)
	}
}
