// Package metadata serves the Databricks SDKs' metadata-service protocol on
// 127.0.0.1: one URL per profile, http://127.0.0.1:PORT/<secret>, answering
// GET with the profile's current token (shared/reference/databricks-auth.md,
// "SDK hook 1"). The VS Code extension protects such a URL only by its
// random path; this server also refuses callers of other uids (Linux, via
// daemon/tcppeer) and requests whose Host header is not a loopback name.
package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/internal/hosturl"
)

// Protocol header names and the one version this server speaks.
const (
	VersionHeader = "X-Databricks-Metadata-Version"
	HostHeader    = "X-Databricks-Host"
	Version       = "1"
)

// NoExpiryHorizon is the expires_on given for tokens that never expire (a
// static PAT). Clients cache a token until shortly before expires_on; a
// finite horizon makes them come back, so a re-login, rotation or a
// revoked token reaches long-running clients within the hour instead of
// never. Asking again costs one loopback request.
const NoExpiryHorizon = time.Hour

// Token is what the token source hands out for a profile.
type Token struct {
	Value  string
	Expiry time.Time // zero: does not expire
}

// Caller is who asked, as the connection tells it: the uid the listener
// checked, and the pid when the OS says (0 otherwise).
type Caller struct{ UID, PID int }

// Tokens is where tokens come from (the daemon's core, which also records
// each hand-out in the audit with the caller).
type Tokens interface {
	// Host returns the profile's normalised workspace URL.
	Host(profile string) (string, bool)
	Token(ctx context.Context, profile string, caller Caller) (Token, error)
}

// Config is what a Handler needs. Zero optional fields take defaults.
type Config struct {
	Paths  *Paths
	Tokens Tokens
	Log    *slog.Logger
	// UID is the only user served. The listener (tcpguard, see NewServer)
	// refuses other users' connections before a request is read; the
	// handler checks the peer it recorded once more.
	UID int
	// ErrorStatus maps a token error to an HTTP status; default 500.
	ErrorStatus func(error) int
	Now         func() time.Time
	// Identity names this daemon (pid, registry) in the answer to a path
	// it does not know: with two registries of one user, a URL of the
	// other one's may reach this daemon when that one could not bind.
	Identity string
}

// Handler answers metadata-service requests.
type Handler struct{ cfg Config }

// NewHandler returns a Handler for cfg.
func NewHandler(cfg Config) *Handler {
	if cfg.ErrorStatus == nil {
		cfg.ErrorStatus = func(error) int { return http.StatusInternalServerError }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresOn   int64  `json:"expires_on"` // unix seconds, a JSON integer: Python rejects strings
}

// ServeHTTP checks, in order: Host header (421), method (405), the peer's
// uid (403), the path (404), the protocol version (400), the workspace host
// (400 when absent or malformed, 403 when it is not the profile's). The
// path comes before the protocol checks so that nobody without the URL
// learns anything beyond "not found".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// DNS rebinding: a web page whose name resolves to 127.0.0.1 reaches
	// this port, but its requests carry the page's host name.
	if !loopbackHost(r.Host) {
		h.refuse(w, r, http.StatusMisdirectedRequest, "MISDIRECTED_REQUEST",
			"this server answers only requests addressed to 127.0.0.1 or localhost", "bad Host header", "")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		h.refuse(w, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "only GET is supported", "method not allowed", "")
		return
	}
	peer, ok := h.checkPeer(w, r)
	if !ok {
		return
	}
	profile, ok := h.cfg.Paths.Lookup(r.Context(), strings.TrimPrefix(r.URL.Path, "/"))
	if !ok {
		// Never log the path: it may be a real URL with a typo, i.e. most
		// of a secret.
		msg := "no such metadata URL (rotated, or the profile was logged out?): get the current one with dbx-cred metadata-url -p PROFILE"
		if h.cfg.Identity != "" {
			msg = fmt.Sprintf("%s knows no such metadata URL. If the URL is another dbx-credd's of yours (another HOME or checkout), "+
				"this one holds the port it wanted: dbx-cred doctor there says so. Else it was rotated, or the profile logged out: "+
				"get the current one with dbx-cred metadata-url -p PROFILE", h.cfg.Identity)
		}
		h.refuse(w, r, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", msg, "unknown path", "")
		return
	}
	if v := r.Header.Get(VersionHeader); v != Version {
		h.refuse(w, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE",
			fmt.Sprintf("%s must be %q (got %q)", VersionHeader, Version, v), "unsupported protocol version", profile)
		return
	}
	want, known := h.cfg.Tokens.Host(profile)
	if !known {
		h.refuse(w, r, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "the profile of this URL no longer exists", "profile gone", profile)
		return
	}
	got, err := hosturl.Normalize(r.Header.Get(HostHeader))
	if err != nil || r.Header.Get(HostHeader) == "" {
		// Malformed request: the client did not say which workspace.
		h.refuse(w, r, http.StatusBadRequest, "INVALID_PARAMETER_VALUE",
			HostHeader+" must be the workspace URL, e.g. "+hosturl.Example, "missing or malformed workspace host", profile)
		return
	}
	if got != want {
		// Well-formed but refused: this URL's token belongs to another
		// workspace, and sending it to got would leak it there. 403, not
		// 400, because retrying the same request can never succeed.
		h.refuse(w, r, http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("this URL serves workspace %s, not %s", want, got), "workspace host mismatch", profile)
		return
	}
	tok, err := h.cfg.Tokens.Token(r.Context(), profile, Caller{UID: peer.UID, PID: peer.PID()})
	if err != nil {
		h.cfg.Log.Warn("metadata service: no token", "profile", profile, "err", err)
		h.writeError(w, h.cfg.ErrorStatus(err), "TEMPORARILY_UNAVAILABLE", err.Error())
		return
	}
	expires := tok.Expiry
	if expires.IsZero() {
		expires = h.cfg.Now().Add(NoExpiryHorizon)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(tokenJSON{AccessToken: tok.Value, TokenType: "Bearer", ExpiresOn: expires.Unix()})
}

// checkPeer refuses requests whose connection's owner is not known to be
// this user. It writes the refusal itself; ok is false then. A peer whose
// uid the OS cannot tell has UID -1 and is let through (the secret path
// is then the only protection).
func (h *Handler) checkPeer(w http.ResponseWriter, r *http.Request) (*tcpguard.Peer, bool) {
	peer, ok := tcpguard.FromContext(r.Context())
	switch {
	case !ok:
		// Not through a guarded listener: fail closed.
		h.refuse(w, r, http.StatusForbidden, "PERMISSION_DENIED", "cannot tell who is calling", "no peer recorded", "")
		return nil, false
	case peer.Known && peer.UID != h.cfg.UID:
		h.refuse(w, r, http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("dbx-credd serves only uid %d; request from uid %d refused", h.cfg.UID, peer.UID), "another user", "")
		return nil, false
	}
	return peer, true
}

// loopbackHost accepts 127.0.0.1 and localhost, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return host == "127.0.0.1" || strings.EqualFold(host, "localhost")
}

// refuse logs a refused request (profile name only, never path or token)
// and answers with a Databricks-style error body.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg, why, profile string) {
	h.cfg.Log.Info("metadata service: request refused", "status", status, "why", why, "profile", profile, "remote", r.RemoteAddr)
	h.writeError(w, status, code, msg)
}

func (h *Handler) writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}
