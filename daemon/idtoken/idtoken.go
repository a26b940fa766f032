// Package idtoken gets the JWT that workload identity federation exchanges
// for a Databricks token: from GitHub Actions' ID token endpoint, Azure
// DevOps' OIDC endpoint, a file (a Kubernetes projected service-account
// token), or an environment variable, each read afresh at every exchange.
// It also reads a JWT's claims for messages; it verifies nothing (the
// workspace does).
package idtoken

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Source gives a JWT for an audience.
type Source interface {
	IDToken(ctx context.Context, audience string) (string, error)
	// String is the source as the user named it ("github", "file:/p").
	String() string
}

// ErrUnavailable marks a source that has no token to give here (not in
// that CI system, a variable or file missing): a setup problem, not a
// refusal.
var ErrUnavailable = errors.New("no ID token available")

// Parse reads a source as login's --federated takes it. getenv is the
// daemon's environment, where the CI system's variables are; client is
// for the HTTP sources.
func Parse(spec string, getenv func(string) string, client *http.Client) (Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch {
	case spec == "github":
		return github{getenv: getenv, client: client}, nil
	case spec == "azure-devops":
		return azureDevOps{getenv: getenv, client: client}, nil
	case kind == "file" && arg != "":
		return file(arg), nil
	case kind == "env" && arg != "":
		return envVar{name: arg, getenv: getenv}, nil
	}
	return nil, fmt.Errorf("--federated %q: give github, azure-devops, file:PATH or env:NAME", spec)
}

type github struct {
	getenv func(string) string
	client *http.Client
}

func (github) String() string { return "github" }

// IDToken asks GitHub Actions: GET the request URL with &audience=, the
// request token as bearer, {"value": JWT} back.
func (g github) IDToken(ctx context.Context, audience string) (string, error) {
	u, tok := g.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), g.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if u == "" || tok == "" {
		return "", fmt.Errorf("%w from GitHub Actions: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not in dbx-credd's environment. "+
			"Give the workflow (or job) \"permissions: id-token: write\", and let dbx-credd start inside the job (dbx-cred starts it on first use)", ErrUnavailable)
	}
	sep := "&"
	if !strings.Contains(u, "?") {
		sep = "?"
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := getJSON(ctx, g.client, http.MethodGet, u+sep+"audience="+url.QueryEscape(audience), tok, &out); err != nil {
		return "", fmt.Errorf("get an ID token from GitHub Actions: %w", err)
	}
	if out.Value == "" {
		return "", fmt.Errorf("get an ID token from GitHub Actions: the answer has no value")
	}
	return out.Value, nil
}

type azureDevOps struct {
	getenv func(string) string
	client *http.Client
}

func (azureDevOps) String() string { return "azure-devops" }

// IDToken asks Azure DevOps as the Go SDK does: POST the job's oidctoken
// endpoint with SYSTEM_ACCESSTOKEN as bearer, {"oidcToken": JWT} back.
// SYSTEM_OIDCREQUESTURI, where the pipeline sets it, is that endpoint.
func (a azureDevOps) IDToken(ctx context.Context, _ string) (string, error) {
	tok := a.getenv("SYSTEM_ACCESSTOKEN")
	if tok == "" {
		return "", fmt.Errorf("%w from Azure DevOps: SYSTEM_ACCESSTOKEN is not in dbx-credd's environment: map it in the pipeline step (env: SYSTEM_ACCESSTOKEN: $(System.AccessToken))", ErrUnavailable)
	}
	u := a.getenv("SYSTEM_OIDCREQUESTURI")
	if u == "" {
		var missing []string
		vals := map[string]string{}
		for _, k := range []string{"SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", "SYSTEM_TEAMPROJECTID", "SYSTEM_HOSTTYPE", "SYSTEM_PLANID", "SYSTEM_JOBID"} {
			if vals[k] = a.getenv(k); vals[k] == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return "", fmt.Errorf("%w from Azure DevOps: %s not in dbx-credd's environment (is this an Azure DevOps pipeline?)", ErrUnavailable, strings.Join(missing, ", "))
		}
		u = fmt.Sprintf("%s/%s/_apis/distributedtask/hubs/%s/plans/%s/jobs/%s/oidctoken", strings.TrimRight(vals["SYSTEM_TEAMFOUNDATIONCOLLECTIONURI"], "/"),
			vals["SYSTEM_TEAMPROJECTID"], vals["SYSTEM_HOSTTYPE"], vals["SYSTEM_PLANID"], vals["SYSTEM_JOBID"])
	}
	if !strings.Contains(u, "api-version=") {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "api-version=7.2-preview.1"
	}
	var out struct {
		OIDCToken string `json:"oidcToken"`
	}
	if err := getJSON(ctx, a.client, http.MethodPost, u, tok, &out); err != nil {
		return "", fmt.Errorf("get an ID token from Azure DevOps: %w", err)
	}
	if out.OIDCToken == "" {
		return "", fmt.Errorf("get an ID token from Azure DevOps: the answer has no oidcToken")
	}
	return out.OIDCToken, nil
}

type file string

func (f file) String() string { return "file:" + string(f) }

// IDToken re-reads the file: a projected service-account token is
// replaced by the kubelet before it expires.
func (f file) IDToken(context.Context, string) (string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("%w: read the ID token file %s: %v", ErrUnavailable, string(f), err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: the ID token file %s is empty", ErrUnavailable, string(f))
	}
	return t, nil
}

type envVar struct {
	name   string
	getenv func(string) string
}

func (e envVar) String() string { return "env:" + e.name }

func (e envVar) IDToken(context.Context, string) (string, error) {
	t := strings.TrimSpace(e.getenv(e.name))
	if t == "" {
		return "", fmt.Errorf("%w: %s is not set in dbx-credd's environment (dbx-credd reads it at each exchange: let it start inside the job)", ErrUnavailable, e.name)
	}
	return t, nil
}

func getJSON(ctx context.Context, client *http.Client, method, u, bearer string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err // without the URL's query, which may carry a token
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the endpoint answered %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the answer is not JSON: %v", err)
	}
	return nil
}

// Claims are what messages may say of a JWT: never the token itself.
type Claims struct {
	Issuer   string
	Subject  string
	Audience []string
	Expiry   time.Time // zero when absent
}

func (c Claims) String() string {
	return fmt.Sprintf("iss %q, sub %q, aud %q", c.Issuer, c.Subject, strings.Join(c.Audience, ","))
}

// Read decodes a JWT's claims without verifying it.
func Read(jwt string) (Claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return Claims{}, errors.New("not a JWT (three dot-separated parts)")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("not a JWT: the claims are not base64url: %v", err)
	}
	var raw struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Claims{}, fmt.Errorf("not a JWT: the claims are not JSON: %v", err)
	}
	c := Claims{Issuer: raw.Iss, Subject: raw.Sub}
	var one string
	if json.Unmarshal(raw.Aud, &one) == nil {
		c.Audience = []string{one}
	} else {
		json.Unmarshal(raw.Aud, &c.Audience)
	}
	if n, err := raw.Exp.Int64(); err == nil && n > 0 {
		c.Expiry = time.Unix(n, 0)
	}
	return c, nil
}
