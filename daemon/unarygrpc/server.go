// Package unarygrpc serves unary gRPC calls over HTTP/2 on dbx-credd's own
// socket: the generated service description and handlers, the interceptors,
// status, metadata and peer of grpc-go, on a lean transport.
//
// Why not grpc-go's server, which the forwarding sockets still use: on the
// warm path it was most of a GetToken's cost. bench's
// BenchmarkTransportFloor, a GetToken that answers a constant, measured it
// at about 30 µs of CPU per call on the project's VM, and this transport
// at about 16 (README, Performance): here a worker reads nothing and
// hands nothing on; it runs the handler and writes the whole answer
// (HEADERS, DATA, trailers) in one write, where grpc-go hands each call
// from its reader to a worker and from the worker to a writer goroutine.
//
// What keeps a hand-written transport small and safe:
//   - only the daemon's own uid (and root) can reach the socket, whose
//     directory is private (internal/safesocket); the peer's uid is read
//     from the kernel as the connection starts, and a call from any other
//     uid is refused before its handler runs; the sockets lent to other
//     hosts and uids (daemon/adapter/forward) stay on grpc-go;
//   - framing, CONTINUATION assembly, HPACK and header-size limits are
//     golang.org/x/net/http2's Framer, the frame reader net/http uses;
//   - unary calls only (the API has no streams), no compression, no TLS;
//   - the tests hold it to grpc-go's client and the helper's (grpcwire),
//     and a fuzz test feeds it arbitrary frames.
package unarygrpc

import (
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ErrServerStopped is what Serve returns once Stop or GracefulStop began.
var ErrServerStopped = errors.New("unarygrpc: the server was stopped")

// Options configure a Server.
type Options struct {
	// Handshake names the peer of a new connection (peercred's transport
	// credentials) before any of its bytes is read. An error closes it.
	Handshake func(net.Conn) (credentials.AuthInfo, error)
	// Interceptor runs around every handler (one: each link of a chain
	// costs every call).
	Interceptor grpc.UnaryServerInterceptor
	// Log receives what goes wrong with a connection; nil discards it.
	Log *slog.Logger
}

// Server serves one service's unary methods on any number of listeners.
type Server struct {
	impl        any
	services    map[string]bool
	methods     map[string]*method
	handshake   func(net.Conn) (credentials.AuthInfo, error)
	interceptor grpc.UnaryServerInterceptor
	log         *slog.Logger
	// writeTimeout bounds each write to a client (writeTimeout unless a
	// test shortens it).
	writeTimeout time.Duration

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]bool
	conns     map[*conn]bool
	stopping  bool
	done      sync.WaitGroup // one per connection
	work      chan *stream   // to an idle worker
	quit      chan struct{}  // closed when the workers are to end
	quitOnce  sync.Once
}

// method is one unary method, as the generated code describes it.
type method struct {
	info    grpc.UnaryServerInfo
	handler grpc.MethodHandler
}

// New serves the unary methods of desc, implemented by impl (what the
// generated RegisterXServer would be given). It panics if desc has
// streaming methods, which this transport does not carry.
func New(desc *grpc.ServiceDesc, impl any, opts Options) *Server {
	if len(desc.Streams) > 0 {
		panic("unarygrpc: " + desc.ServiceName + " has streaming methods")
	}
	s := &Server{
		impl:         impl,
		services:     map[string]bool{desc.ServiceName: true},
		methods:      make(map[string]*method, len(desc.Methods)),
		handshake:    opts.Handshake,
		interceptor:  opts.Interceptor,
		log:          opts.Log,
		writeTimeout: writeTimeout,
		listeners:    map[net.Listener]bool{},
		conns:        map[*conn]bool{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.work, s.quit = make(chan *stream), make(chan struct{})
	for range runtime.NumCPU() {
		go s.worker()
	}
	for _, m := range desc.Methods {
		full := "/" + desc.ServiceName + "/" + m.MethodName
		s.methods[full] = &method{info: grpc.UnaryServerInfo{Server: impl, FullMethod: full}, handler: m.Handler}
	}
	return s
}

// Serve accepts connections on ln until it fails or the server stops; it
// then returns ErrServerStopped, or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		ln.Close()
		return ErrServerStopped
	}
	s.listeners[ln] = true
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				return ErrServerStopped
			}
			if temporary(err) {
				// Out of file descriptors and the like: wait, as
				// net/http and grpc-go do, rather than spin or stop.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept on the socket failed; retrying", "err", err, "retry_in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.start(nc)
	}
}

// temporary says an Accept error will pass: EMFILE, ENFILE, ECONNABORTED
// and the like, which the net package marks Temporary (deprecated for
// reads and writes, still what net/http and grpc-go ask of Accept).
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// start serves nc in its own goroutine, unless the server is stopping.
func (s *Server) start(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = true
	s.done.Add(1)
	go c.serve()
}

// forget is called once by each connection when it closes.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.done.Done()
}

// GracefulStop stops accepting connections, tells every client to open no
// more calls (GOAWAY), lets the calls in progress finish, and returns when
// every connection is closed.
func (s *Server) GracefulStop() {
	for _, c := range s.stop() {
		c.goAway()
	}
	s.done.Wait()
	s.quitOnce.Do(func() { close(s.quit) })
}

// Stop closes the listeners and every connection at once; the handlers
// still running see their contexts cancelled.
func (s *Server) Stop() {
	for _, c := range s.stop() {
		c.close()
	}
	s.done.Wait()
	s.quitOnce.Do(func() { close(s.quit) })
}

// stop marks the server stopping, closes its listeners and returns its
// connections.
func (s *Server) stop() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopping = true
	for ln := range s.listeners {
		ln.Close()
	}
	clear(s.listeners)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// lookup finds the method a :path names, or says why there is none in
// grpc-go's words.
func (s *Server) lookup(path string) (*method, string) {
	if m, ok := s.methods[path]; ok {
		return m, ""
	}
	service, name, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok || !strings.HasPrefix(path, "/") {
		return nil, "malformed method name: " + strconv.Quote(path)
	}
	if !s.services[service] {
		return nil, "unknown service " + service
	}
	return nil, "unknown method " + name + " for service " + service
}

// dispatch runs st's call on an idle worker, or on a new goroutine when
// none is idle: a worker's stack has grown to what a handler needs, and
// growing a fresh goroutine's stack on every call was a tenth of a call's
// CPU (perf, during bench's BenchmarkGetToken64).
func (s *Server) dispatch(st *stream) {
	select {
	case s.work <- st:
	default:
		go st.c.run(st)
	}
}

func (s *Server) worker() {
	for {
		select {
		case st := <-s.work:
			st.c.run(st)
		case <-s.quit:
			return
		}
	}
}
