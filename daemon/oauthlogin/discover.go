// Package oauthlogin runs the browser half of a user (U2M) OAuth login:
// discovery of a workspace's endpoints, the authorization-code flow with
// PKCE S256, and the short-lived localhost listener the browser comes back
// to. It hands back the first tokens and knows nothing of profiles or
// stores; daemon/profiles keeps what it returns.
//
// It is built on golang.org/x/oauth2 directly rather than the SDK's
// credentials/u2m, which refuses http:// hosts and so could not be tested
// against internal/testkit/wsemu.
package oauthlogin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Sentinel errors the daemon maps to status codes; each wrapping error's
// text names the problem and the fix.
var (
	// ErrUnreachable: the workspace or its token endpoint did not answer.
	ErrUnreachable = errkind.New(errkind.Unreachable, "unreachable")
	// ErrNotWorkspace: the host answered, but not as a Databricks
	// workspace's OAuth server does.
	ErrNotWorkspace = errkind.New(errkind.BadInput, "not a Databricks OAuth server")
	// ErrDenied: the authorization server refused the login (the user
	// declined, or the code could not be exchanged).
	ErrDenied = errkind.New(errkind.NeedsLogin, "login refused")
	// ErrPortsBusy: no callback port in the range could be bound.
	ErrPortsBusy = errkind.New(errkind.Busy, "no free callback port")
)

// Endpoints are a login's OAuth endpoints.
type Endpoints struct {
	AuthURL  string
	TokenURL string
	// RevocationURL is the RFC 7009 endpoint when discovery names one;
	// account level and most workspaces have none.
	RevocationURL string
}

// discoveryPath is where a workspace serves RFC 8414 metadata.
const discoveryPath = "/oidc/.well-known/oauth-authorization-server"

// maxDiscoveryBytes bounds what a misconfigured host can make the daemon
// read; real documents are about a kilobyte.
const maxDiscoveryBytes = 1 << 20

// discoveryTimeout bounds discovery when the caller's client has no
// timeout of its own.
const discoveryTimeout = 30 * time.Second

// Discover finds the OAuth endpoints of host (as hosturl.Normalize returns
// it). With accountID the host is an accounts host, which has no discovery
// document: its endpoints are at fixed paths. hc nil means a plain client.
func Discover(ctx context.Context, hc *http.Client, host, accountID string) (Endpoints, error) {
	host = strings.TrimRight(host, "/")
	if accountID != "" {
		base := host + "/oidc/accounts/" + url.PathEscape(accountID) + "/v1/"
		return Endpoints{AuthURL: base + "authorize", TokenURL: base + "token"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	doc, err := fetchDiscovery(ctx, client(hc), host)
	if err != nil {
		return Endpoints{}, err
	}
	ep := Endpoints{AuthURL: doc.AuthorizationEndpoint, TokenURL: doc.TokenEndpoint, RevocationURL: doc.RevocationEndpoint}
	if ep.AuthURL == "" || ep.TokenURL == "" {
		return Endpoints{}, notWorkspace(host, "its discovery document names no authorization_endpoint or token_endpoint")
	}
	for _, u := range []string{ep.AuthURL, ep.TokenURL, ep.RevocationURL} {
		if u == "" {
			continue
		}
		if err := sameTrust(host, u); err != nil {
			return Endpoints{}, err
		}
	}
	return ep, nil
}

type discoveryDocument struct {
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
}

func fetchDiscovery(ctx context.Context, hc *http.Client, host string) (discoveryDocument, error) {
	var doc discoveryDocument
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+discoveryPath, nil)
	if err != nil {
		return doc, fmt.Errorf("%w: %q is not a usable host URL: %v", ErrNotWorkspace, host, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return doc, fmt.Errorf("discover the OAuth endpoints of %s: %w", host, ctx.Err())
		}
		return doc, fmt.Errorf("%w: discover the OAuth endpoints of %s: %v; check the host and your network or proxy", ErrUnreachable, host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return doc, notWorkspace(host, fmt.Sprintf("GET %s answered %s", discoveryPath, resp.Status))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return doc, notWorkspace(host, fmt.Sprintf("GET %s answered %s, not JSON", discoveryPath, mt))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBytes))
	if err != nil {
		return doc, fmt.Errorf("%w: read the discovery document of %s: %v", ErrUnreachable, host, err)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return doc, notWorkspace(host, fmt.Sprintf("GET %s did not answer a JSON object", discoveryPath))
	}
	return doc, nil
}

func notWorkspace(host, why string) error {
	return fmt.Errorf("%w: %s: %s; is %s a Databricks workspace URL? (for an account-level login give the accounts host and --account-id)",
		ErrNotWorkspace, host, why, host)
}

// sameTrust refuses an endpoint that would weaken the transport the user
// chose for host: the code, verifier and refresh token go to these URLs,
// so a discovery document must not send them over http:// to another
// machine. https:// is always fine; http:// only to host itself.
func sameTrust(host, endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return notWorkspace(host, fmt.Sprintf("its discovery document names %q, which is not an http(s) URL", endpoint))
	}
	if u.Scheme == "http" && !strings.EqualFold(u.Scheme+"://"+u.Host, host) {
		return notWorkspace(host, fmt.Sprintf("its discovery document sends the login to %s over cleartext http", u.Host))
	}
	return nil
}

// client is hc, or a client with a timeout of its own.
func client(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: discoveryTimeout}
}
