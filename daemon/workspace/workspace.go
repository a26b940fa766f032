// Package workspace is the daemon's only door to a Databricks workspace. It
// uses databricks-sdk-go with every implicit source of configuration turned
// off: the daemon decides the host and the credential, never the
// environment or a ~/.databrickscfg it happens to find.
package workspace

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/databricks/databricks-sdk-go/apierr"
	"github.com/databricks/databricks-sdk-go/client"
	"github.com/databricks/databricks-sdk-go/config"
	"github.com/databricks/databricks-sdk-go/service/iam"

	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/remotetext"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// ErrRejected means the workspace refused the credential (invalid, expired
// or revoked token).
var ErrRejected = errors.New("the workspace rejected the token: it is invalid, expired or revoked")

// UnreachableError means no HTTP conversation with the workspace happened.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	if plainHTTP(e.Err) {
		return fmt.Sprintf("cannot reach workspace %s: the server there answers plain HTTP, not HTTPS. A Databricks workspace always speaks HTTPS: "+
			"if this is a local emulator, give its http:// address instead (%s); else a proxy in between is answering", e.Host, strings.Replace(e.Host, "https://", "http://", 1))
	}
	return fmt.Sprintf("cannot reach workspace %s: %v; check the host and your network or proxy", e.Host, e.Err)
}

// plainHTTP reports whether err is a TLS client meeting a plain HTTP server:
// net/http says so in words only ("server gave HTTP response to HTTPS
// client"), crypto/tls with a RecordHeaderError.
func plainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || (err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// ErrKind is Unreachable: the workspace, not the daemon, is missing.
func (e *UnreachableError) ErrKind() errkind.Kind { return errkind.Unreachable }

// Client talks to workspaces. The zero value is not usable; use New.
type Client struct {
	dialTimeout  time.Duration
	retryTimeout time.Duration
	transport    http.RoundTripper
	http         *http.Client
}

// New returns a Client. retryTimeout bounds the SDK's own retries of 429
// and 5xx answers (it would otherwise retry for 5 minutes).
func New(retryTimeout time.Duration) *Client {
	// One transport for the Token API, account calls and the SDK: it
	// sends nothing over plain http to a loopback server of another user.
	rt := outbound.Transport(outbound.Config{})
	return &Client{dialTimeout: 5 * time.Second, retryTimeout: retryTimeout, transport: rt,
		http: &http.Client{Timeout: 30 * time.Second, Transport: rt}}
}

// User is who a token belongs to.
type User struct {
	ID, UserName, DisplayName string
}

// Me asks the workspace who owns token: the cheapest call that proves a token
// works (GET /api/2.0/preview/scim/v2/Me).
func (c *Client) Me(ctx context.Context, host, token string) (User, error) {
	if err := c.probe(ctx, host); err != nil {
		return User{}, err
	}
	w, err := c.client(host, token)
	if err != nil {
		return User{}, err
	}
	me, err := iam.NewCurrentUser(w).Me(ctx, iam.MeRequest{})
	if err != nil {
		return User{}, c.classify(host, "ask who owns the token", err)
	}
	return User{ID: me.Id, UserName: me.UserName, DisplayName: me.DisplayName}, nil
}

// probe dials the workspace once so that an unreachable host fails in
// seconds: the SDK treats "connection refused" as retriable and would keep
// trying until its retry timeout.
func (c *Client) probe(ctx context.Context, host string) error {
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("parse workspace host %q: %w", host, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	d := net.Dialer{Timeout: c.dialTimeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return &UnreachableError{Host: host, Err: err}
	}
	return conn.Close()
}

// client is the SDK's API client alone, not databricks.WorkspaceClient:
// that one links every service package of the SDK, which made the daemon's
// binary (and the code pages it keeps resident) far larger for one call.
func (c *Client) client(host, token string) (*client.DatabricksClient, error) {
	cfg := &config.Config{
		Host:                host,
		Token:               token,
		AuthType:            "pat",
		Credentials:         config.PatCredentials{},
		Loaders:             []config.Loader{explicitOnly{}},
		RetryTimeoutSeconds: int(c.retryTimeout / time.Second),
		HTTPTimeoutSeconds:  30,
		HTTPTransport:       c.transport,
	}
	w, err := client.New(cfg)
	if err != nil {
		// The SDK's error may quote config values; the token is not among
		// the attributes it prints (it is marked sensitive), but say only
		// what we were doing to be sure.
		return nil, fmt.Errorf("set up a workspace client for %s: invalid configuration", host)
	}
	return w, nil
}

func (c *Client) classify(host, doing string, err error) error {
	if errors.Is(err, outbound.ErrForeignListener) {
		// Not a network problem: say only what the check found.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s at %s: %w", doing, host, err)
	}
	var apiErr *apierr.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			if apiErr.StatusCode == http.StatusForbidden && apiErr.Message != "Invalid access token." {
				return fmt.Errorf("%s at %s: permission denied: %s", doing, host, remotetext.Clip(apiErr.Message))
			}
			return fmt.Errorf("%s at %s: %w", doing, host, ErrRejected)
		}
		return fmt.Errorf("%s at %s: the workspace answered %d %s: %s", doing, host, apiErr.StatusCode, remotetext.Clip(apiErr.ErrorCode), remotetext.Clip(apiErr.Message))
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return &UnreachableError{Host: host, Err: err}
	}
	return fmt.Errorf("%s at %s: %w", doing, host, remotetext.Error(err))
}

// explicitOnly is an SDK config loader that loads nothing: no environment
// variables, no ~/.databrickscfg. The fields set in code are all there is.
type explicitOnly struct{}

func (explicitOnly) Name() string                   { return "dbx-cred explicit config" }
func (explicitOnly) Configure(*config.Config) error { return nil }
