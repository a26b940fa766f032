// Package proxy is the local authenticating proxy adapter: for a profile,
// an HTTP server on 127.0.0.1 that forwards every request to the
// profile's workspace with the current short-lived token, so a tool that
// only knows a base URL (an OpenAI client, curl, an agent) never holds a
// token. Only the user's own processes get in (tcpguard, as the metadata
// endpoint), the Host header must name the proxy itself (no DNS
// rebinding), bodies stream both ways, and a 401 costs one forced renewal
// and one retry when the request can be replayed.
package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/core"
	"github.com/dbx-cred/dbx-cred/daemon/outbound"
	"github.com/dbx-cred/dbx-cred/daemon/profiles"
	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
	"github.com/dbx-cred/dbx-cred/daemon/tcppeer"
	"github.com/dbx-cred/dbx-cred/internal/atomicfile"
	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// StateFile, next to the registry, remembers each profile's port.
const StateFile = "proxy-ports.json"

// MaxConns bounds the connections one proxy holds at once.
const MaxConns = 64

// Manager owns the proxies, one per profile. Serve must be called before
// the core can reach Start.
type Manager struct {
	statePath string // remembered ports, so URLs stay valid across restarts
	uid       int
	log       *slog.Logger
	transport http.RoundTripper

	mu      sync.Mutex
	svc     *core.Service
	proxies map[string]*proxy
}

type proxy struct {
	profile, host, url string
	prefix             string // the path secret, "" for none
	srv                *http.Server
	requests           atomic.Int64
}

// New returns a Manager remembering ports in statePath.
func New(statePath string, uid int, log *slog.Logger) *Manager {
	return &Manager{statePath: statePath, uid: uid, log: log, proxies: map[string]*proxy{},
		transport: outbound.Transport(outbound.Config{})}
}

// Serve gives the manager the core its proxies ask for tokens, and serves
// again the proxies that were served when the last daemon stopped, on
// their ports, so base URLs written into tools keep working.
func (m *Manager) Serve(svc *core.Service) {
	m.mu.Lock()
	m.svc = svc
	m.mu.Unlock()
	hosts := map[string]string{}
	for _, p := range svc.Profiles().List() {
		hosts[p.Name] = p.Host
	}
	for name, rec := range m.remembered() {
		if !rec.Serve || hosts[name] == "" {
			continue
		}
		if _, err := m.Start(context.Background(), name, hosts[name], rec.PathSecret); err != nil {
			m.log.Warn("could not serve the proxy again", "profile", name, "err", err)
		}
	}
}

// Start serves profile's proxy to host, on the port it had before when
// that is free, or returns the one being served.
func (m *Manager) Start(_ context.Context, profile, host string, pathSecret bool) (core.ProxyInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.svc == nil {
		return core.ProxyInfo{}, errors.New("proxy.Manager: Start before Serve")
	}
	if p, ok := m.proxies[profile]; ok && p.host == host && (!pathSecret || p.prefix != "") {
		return m.infoOf(p), nil
	} else if ok {
		p.srv.Close() // the profile moved to another host, or now wants a path secret
		delete(m.proxies, profile)
	}
	target, err := url.Parse(host)
	if err != nil {
		return core.ProxyInfo{}, fmt.Errorf("parse host %q: %w", host, err)
	}
	recs := m.remembered()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(recs[profile].Port)))
	if err != nil && recs[profile].Port != 0 {
		m.log.Warn("the proxy's remembered port is taken; using another", "profile", profile, "port", recs[profile].Port, "err", err)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return core.ProxyInfo{}, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p := &proxy{profile: profile, host: host, url: "http://127.0.0.1:" + strconv.Itoa(port)}
	prefix := ""
	if pathSecret || !peerUIDKnown() {
		b := make([]byte, 24)
		rand.Read(b)
		prefix = "/" + base64.RawURLEncoding.EncodeToString(b)
		p.url, p.prefix = p.url+prefix, prefix
	}
	if rec := (remembered{Port: port, Serve: true, PathSecret: pathSecret}); recs[profile] != rec {
		recs[profile] = rec
		m.remember(recs)
	}
	p.srv = &http.Server{
		Handler:           m.handler(p, target, port, prefix),
		ConnContext:       tcpguard.ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	guarded := tcpguard.Wrap(ln, tcpguard.Config{Name: "proxy of profile " + profile, UID: m.uid, Log: m.log, MaxConns: MaxConns, Refusal: tcpguard.HTTPRefusal("this dbx-credd proxy", m.uid)})
	go func() {
		if err := p.srv.Serve(guarded); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Warn("proxy stopped serving", "profile", profile, "err", err)
		}
	}()
	m.proxies[profile] = p
	m.log.Info("proxy serving", "profile", profile, "url", p.url, "host", host)
	return m.infoOf(p), nil
}

func (m *Manager) infoOf(p *proxy) core.ProxyInfo {
	return core.ProxyInfo{Profile: p.profile, URL: p.url, Host: p.host, Requests: p.requests.Load()}
}

// List describes the proxies being served, by profile.
func (m *Manager) List() []core.ProxyInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]core.ProxyInfo, 0, len(m.proxies))
	for _, p := range m.proxies {
		out = append(out, m.infoOf(p))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile < out[j].Profile })
	return out
}

// Stop ends profile's proxy and its connections. Its port stays
// remembered, so a later start gives the same URL.
func (m *Manager) Stop(profile string) (core.ProxyInfo, error) {
	m.mu.Lock()
	p, ok := m.proxies[profile]
	delete(m.proxies, profile)
	m.mu.Unlock()
	if !ok {
		return core.ProxyInfo{}, errkind.New(errkind.NotFound, fmt.Sprintf("no proxy is served for profile %q (dbx-cred proxy --list)", profile))
	}
	p.srv.Close()
	m.mu.Lock()
	recs := m.remembered()
	if rec, ok := recs[profile]; ok {
		rec.Serve = false
		recs[profile] = rec
		m.remember(recs)
	}
	m.mu.Unlock()
	return m.infoOf(p), nil
}

// Close ends every proxy; the daemon calls it as it stops.
func (m *Manager) Close() {
	m.mu.Lock()
	all := m.proxies
	m.proxies = map[string]*proxy{}
	m.mu.Unlock()
	for _, p := range all {
		p.srv.Close()
	}
}

// remembered is what the state file keeps of a profile's proxy: its port
// (kept after a stop, for the next start), whether it is served (so the
// next daemon serves it again), and whether with a path secret (never
// the secret itself, which is new at each start).
type remembered struct {
	Port       int  `json:"port"`
	Serve      bool `json:"serve"`
	PathSecret bool `json:"path_secret,omitempty"`
}

func (m *Manager) remembered() map[string]remembered {
	recs := map[string]remembered{}
	if b, err := os.ReadFile(m.statePath); err == nil {
		json.Unmarshal(b, &recs)
	}
	return recs
}

func (m *Manager) remember(recs map[string]remembered) {
	b, _ := json.MarshalIndent(recs, "", "  ")
	if err := atomicfile.Write(m.statePath, b); err != nil {
		m.log.Warn("could not remember the proxy ports; the next daemon may choose others", "path", m.statePath, "err", err)
	}
}

type tokenKey struct{}

// handler checks the Host header, gets the caller's token, and forwards.
func (m *Manager) handler(p *proxy, target *url.URL, port int, prefix string) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			stripCredentials(pr.Out.Header)
			pr.Out.Header.Set("Authorization", "Bearer "+pr.In.Context().Value(tokenKey{}).(string))
		},
		Transport:     &retry401{m: m, profile: p.profile},
		FlushInterval: -1, // every write at once: server-sent events stream
		ModifyResponse: func(r *http.Response) error {
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					r.Header.Del(k) // no CORS: a web page is never this proxy's client
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.log.Info("proxy: the workspace request failed", "profile", p.profile, "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, "UNREACHABLE", "dbx-credd's proxy could not reach "+p.host+": "+err.Error())
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ownHost(r.Host, port) {
			writeError(w, http.StatusMisdirectedRequest, "PERMISSION_DENIED",
				fmt.Sprintf("this proxy answers only to Host 127.0.0.1:%d or localhost:%d, not %q (DNS rebinding refused)", port, port, r.Host))
			return
		}
		if prefix != "" {
			rest, ok := strings.CutPrefix(r.URL.Path, prefix)
			if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
				http.NotFound(w, r) // nothing about the prefix
				return
			}
			r.URL.Path, r.URL.RawPath = rest, ""
		}
		caller := callerOf(r.Context())
		treq := core.TokenRequest{TokenRequest: profiles.TokenRequest{Profile: p.profile}, Channel: "proxy", Caller: caller, Unrecorded: true}
		tok, err := m.svc.Token(r.Context(), treq)
		if err != nil {
			k := errkind.Of(err)
			writeError(w, k.HTTP(), strings.ToUpper(strings.ReplaceAll(k.String(), "-", "_")), err.Error())
			return
		}
		p.requests.Add(1)
		if err := keepSmallBody(r); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "reading the request body: "+err.Error())
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok.Value)))
		// Method, path and status only: never a header, a query or a body.
		m.svc.RecordRequest(r.Context(), treq, tok, r.Method+" "+r.URL.Path+" "+strconv.Itoa(sw.status))
	})
}

// peerUIDKnown reports whether this OS tells a TCP peer's uid; where it
// does not, tcpguard lets everyone in, and a path secret is the guard.
func peerUIDKnown() bool {
	_, err := tcppeer.Lookup(netip.AddrPort{}, netip.AddrPort{})
	return !errors.Is(err, tcppeer.ErrUnsupported)
}

// smallBody bounds the request bodies the proxy reads whole before
// forwarding: an API call or a completion request, not an upload.
const smallBody = 1 << 20

// keepSmallBody reads a request body of known size up to smallBody into
// memory, so that it can be sent again (a retry after a 401) and so that
// it no longer depends on the client connection once the workspace starts
// answering: net/http may close a request body as soon as the response
// is flushed, which cut streamed completions whose upstream request was
// still being written. Larger bodies stream as they come.
func keepSmallBody(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength < 0 || r.ContentLength > smallBody {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, smallBody+1))
	if err != nil {
		return err
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}

func callerOf(ctx context.Context) *core.Caller {
	if peer, ok := tcpguard.FromContext(ctx); ok {
		return &core.Caller{UID: peer.UID, PID: peer.PID()}
	}
	return &core.Caller{UID: -1}
}

// ownHost reports whether host names this proxy, as a browser fooled by
// DNS rebinding would not: 127.0.0.1:PORT or localhost:PORT.
func ownHost(host string, port int) bool {
	h, p, err := net.SplitHostPort(host)
	return err == nil && p == strconv.Itoa(port) && (h == "127.0.0.1" || strings.EqualFold(h, "localhost"))
}

// stripCredentials removes what a client may have sent as its own
// credential: the proxy's token is the only one that leaves.
func stripCredentials(h http.Header) {
	h.Del("Authorization")
	h.Del("Proxy-Authorization")
	h.Del("Cookie")
	for k := range h {
		if strings.HasPrefix(k, "X-Databricks-") {
			h.Del(k)
		}
	}
}

// retry401 retries a request the workspace answered 401 once, with a
// token renewed for it, when the request can be sent again (no body, or
// one it can replay).
type retry401 struct {
	m       *Manager
	profile string
}

func (t *retry401) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.m.transport.RoundTrip(req)
	if err != nil || !rejected(resp) {
		return resp, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil
	}
	tok, terr := t.m.svc.Token(req.Context(), core.TokenRequest{TokenRequest: profiles.TokenRequest{Profile: t.profile, ForceRefresh: true},
		Channel: "proxy", Caller: callerOf(req.Context())})
	if terr != nil {
		return resp, nil
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	resp.Body.Close()
	again.Header.Set("Authorization", "Bearer "+tok.Value)
	t.m.log.Info("proxy: the workspace rejected the token; retried once with a renewed one", "profile", t.profile, "status", resp.StatusCode, "path", req.URL.Path)
	return t.m.transport.RoundTrip(again)
}

// rejected reports whether the workspace refused the token itself: 401,
// or the 403 a workspace gives an invalid or expired token (its reason
// phrase says so), not a 403 for a missing permission.
func rejected(resp *http.Response) bool {
	return resp.StatusCode == http.StatusUnauthorized ||
		resp.StatusCode == http.StatusForbidden && resp.Header.Get("X-Databricks-Reason-Phrase") == "Invalid access token."
}

// statusWriter notes the status for the log line; Unwrap keeps
// http.ResponseController's Flush reaching the real writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int)        { s.status = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": msg})
}
