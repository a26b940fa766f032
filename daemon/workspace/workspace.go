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
	// Silent is set when the workspace took the connection and then
	// answered nothing: Waited is how long the call waited in all (the
	// SDK retries a silent request), Each the bound on one request.
	Silent       bool
	Waited, Each time.Duration
}

func (e *UnreachableError) Error() string {
	if e.Silent {
		waited := fmt.Sprintf("in %s", e.Each)
		if w := e.Waited.Round(time.Second); w > e.Each {
			waited = fmt.Sprintf("in %s (%s per try)", w, e.Each)
		}
		return fmt.Sprintf("workspace %s took the connection but sent no answer %s; "+
			"check the workspace's status and any proxy in between, then try again", e.Host, waited)
	}
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
	// answerTimeout bounds how long one request waits for the workspace
	// to say anything.
	answerTimeout time.Duration
	transport     http.RoundTripper
	http          *http.Client
}

// New returns a Client. retryTimeout bounds the SDK's own retries of 429
// and 5xx answers (it would otherwise retry for 5 minutes).
func New(retryTimeout time.Duration) *Client {
	// One transport for the Token API, account calls and the SDK: it
	// sends nothing over plain http to a loopback server of another user.
	rt := outbound.Transport(outbound.Config{})
	const answer = 30 * time.Second
	return &Client{dialTimeout: 5 * time.Second, retryTimeout: retryTimeout, answerTimeout: answer, transport: rt,
		http: &http.Client{Timeout: answer, Transport: rt}}
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
	start := time.Now()
	me, err := iam.NewCurrentUser(w).Me(ctx, iam.MeRequest{})
	if err != nil {
		return User{}, c.silent(c.classify(host, "ask who owns the token", err), start)
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
		HTTPTimeoutSeconds:  int(c.answerTimeout / time.Second),
		HTTPTransport:       c.transport,
		// No /.well-known/databricks-config fetch: a PAT on a known host
		// needs nothing it returns, and against a silent workspace it
		// added a minute (its own timeout) before the call itself.
		HostMetadataResolver: func(context.Context, string) (*config.HostMetadata, error) { return nil, nil },
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

// silent marks an unreachable error that was a wait for an answer (not a
// refused or failed connection) with how long it lasted, so the message
// states the wait the user saw rather than the SDK's per-try
// "timed out after 30s of inactivity".
func (c *Client) silent(err error, start time.Time) error {
	return silentAfter(err, start, c.answerTimeout)
}

func silentAfter(err error, start time.Time, each time.Duration) error {
	var ue *UnreachableError
	if !errors.As(err, &ue) || !timedOut(ue.Err) {
		return err
	}
	ue.Silent, ue.Waited, ue.Each = true, time.Since(start), each
	return err
}

// timedOut reports whether err is a request that ran out of time. The SDK
// replaces its own inactivity cancellation with a plain error that says
// so only in words, hence the text match for that one case.
func timedOut(err error) bool {
	var netErr net.Error
	return (errors.As(err, &netErr) && netErr.Timeout()) || errors.Is(err, context.DeadlineExceeded) ||
		(err != nil && strings.Contains(err.Error(), "of inactivity"))
}

// explicitOnly is an SDK config loader that loads nothing: no environment
// variables, no ~/.databrickscfg. The fields set in code are all there is.
type explicitOnly struct{}

func (explicitOnly) Name() string                   { return "dbx-cred explicit config" }
func (explicitOnly) Configure(*config.Config) error { return nil }
