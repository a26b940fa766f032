package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dbx-cred/dbx-cred/daemon/tcpguard"
)

// DefaultListen is where the metadata service first tries to listen unless
// told otherwise: a fixed port, so URLs written into .databrickscfg keep
// working across daemon restarts. The port belongs to the whole machine, so
// when another user's daemon holds it Bind chooses a free one and remembers
// it (StateFile).
const DefaultListen = "127.0.0.1:8471"

// ListenFlag is the dbx-credd run flag, named in error messages.
const ListenFlag = "--metadata-listen"

// ParseListen turns the flag's value into a TCP address on 127.0.0.1; off
// is true for "off". "" is DefaultListen, "0" or "PORT" mean 127.0.0.1:PORT.
// Only 127.0.0.1 is accepted: the Go and JS SDKs take only localhost and
// 127.0.0.1 URLs, and the uid check reads only the IPv4 socket table.
func ParseListen(s string) (addr string, off bool, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return DefaultListen, false, nil
	case strings.EqualFold(s, "off"):
		return "", true, nil
	}
	host, port := "127.0.0.1", s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		return "", false, fmt.Errorf("%s %q: the port is not a number from 0 to 65535; use e.g. %s %s, 0 for any free port, or off", ListenFlag, s, ListenFlag, DefaultListen)
	}
	if host != "127.0.0.1" && !strings.EqualFold(host, "localhost") {
		return "", false, fmt.Errorf("%s %q: the metadata service listens only on 127.0.0.1 (the SDKs accept only 127.0.0.1 and localhost URLs); use %s 127.0.0.1:PORT", ListenFlag, s, ListenFlag)
	}
	return net.JoinHostPort("127.0.0.1", port), false, nil
}

// Server is the metadata service's HTTP listener.
type Server struct {
	paths *Paths
	ln    net.Listener
	http  *http.Server
	base  string
}

// NewServer serves h on ln (from Bind), letting in only the connections
// guard admits (tcpguard): h reads each request's caller from its context.
func NewServer(ln net.Listener, guard tcpguard.Config, paths *Paths, h http.Handler) *Server {
	if guard.Refusal == nil {
		guard.Refusal = tcpguard.HTTPRefusal("dbx-credd", guard.UID)
	}
	return &Server{
		paths: paths,
		ln:    tcpguard.Wrap(ln, guard),
		base:  BaseURL(ln),
		http: &http.Server{
			Handler:           h,
			ConnContext:       tcpguard.ConnContext,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second, // a first keyring read may wait for its timeout
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
		},
	}
}

// Base is the server's base URL, e.g. http://127.0.0.1:8471.
func (s *Server) Base() string { return s.base }

// BaseURL is the base URL the service serves at on ln.
func BaseURL(ln net.Listener) string { return "http://" + ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve() error {
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metadata service on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		return fmt.Errorf("stop the metadata service: %w", err)
	}
	return nil
}

// URL returns profile's metadata URL, creating its secret on first use;
// rotate replaces the secret and the old URL answers 404 at once.
func (s *Server) URL(ctx context.Context, profile string, rotate bool) (string, error) {
	sec, err := s.paths.Secret(ctx, profile, rotate)
	if err != nil {
		return "", err
	}
	return s.base + "/" + sec, nil
}

// Forget drops profile's URL (on logout).
func (s *Server) Forget(ctx context.Context, profile string) error {
	return s.paths.Forget(ctx, profile)
}
