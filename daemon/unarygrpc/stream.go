package unarygrpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// stream is one call. The reader goroutine fills buf until the request
// ends, then hands the stream to a goroutine of its own (run).
type stream struct {
	c      *conn
	id     uint32
	m      *method
	ctx    context.Context
	cancel context.CancelFunc

	buf      []byte // the request's gRPC message, prefix included (reader)
	recvUsed uint32 // DATA since this stream's last WINDOW_UPDATE (reader)
	ended    bool   // the client ended the request (reader)

	sendWindow int32 // guarded by c.mu
	reset      bool  // guarded by c.mu: the stream is over, answered or not

	hmu        sync.Mutex // guards the handler's metadata
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
}

// onHeaders opens a call, or answers at once when it cannot be made.
func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		c.mu.Unlock()
		// Trailers ending the request; gRPC clients send none, and they
		// carry nothing a unary call uses.
		if !f.StreamEnded() || s.ended {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.requestDone(s)
		return nil
	}
	if id%2 == 0 || id <= c.lastID {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.lastID = id
	refused := c.refusesLocked()
	sendWindow := c.peerWindow
	c.mu.Unlock()
	if refused {
		c.write(func() error { return c.wfr.WriteRSTStream(id, http2.ErrCodeRefusedStream) })
		return nil
	}
	if f.PseudoValue("method") != "POST" {
		c.write(func() error { return c.wfr.WriteRSTStream(id, http2.ErrCodeProtocol) })
		return nil
	}
	m, base, timeout, st := c.admit(f)
	if st != nil {
		c.answerEarly(id, st, !f.StreamEnded())
		return nil
	}
	s := &stream{c: c, id: id, m: m, sendWindow: sendWindow}
	if timeout >= 0 {
		s.ctx, s.cancel = context.WithTimeout(base, timeout)
	} else {
		s.ctx, s.cancel = context.WithCancel(base)
	}
	s.ctx = grpc.NewContextWithServerTransportStream(s.ctx, s)
	c.mu.Lock()
	if c.refusesLocked() {
		// A graceful stop began while the headers were checked: its
		// GOAWAY may already name this id, so refuse it as a retry.
		c.mu.Unlock()
		s.cancel()
		c.write(func() error { return c.wfr.WriteRSTStream(id, http2.ErrCodeRefusedStream) })
		return nil
	}
	c.streams[id] = s
	c.mu.Unlock()
	if f.StreamEnded() {
		c.requestDone(s)
	}
	return nil
}

// refusesLocked says a new stream is refused: the connection is draining
// or closed, or it has maxStreams calls open or running. Running counts
// calls the client reset, whose handlers may not have returned yet: else
// opening and resetting calls in a loop would start handlers without
// bound. c.mu is held.
func (c *conn) refusesLocked() bool {
	return c.draining || c.closed || len(c.streams) >= maxStreams || int(c.running.Load()) >= maxStreams
}

// admit checks a request's headers and returns its method, the parent of
// its context (the caller's metadata in it) and its timeout (-1: none), or
// the status to answer with.
func (c *conn) admit(f *http2.MetaHeadersFrame) (*method, context.Context, time.Duration, *status.Status) {
	if f.Truncated {
		return nil, nil, 0, status.Newf(codes.Internal, "the request's header fields are over %d bytes", maxHeaderList)
	}
	if v := headerValue(f, "content-type"); !isGRPCContentType(v) {
		return nil, nil, 0, status.Newf(codes.Internal, "malformed content-type %q: this socket speaks gRPC (application/grpc)", v)
	}
	m, why := c.srv.lookup(f.PseudoValue("path"))
	if m == nil {
		return nil, nil, 0, status.New(codes.Unimplemented, why)
	}
	// The caller's own metadata, and none in the context when it sent
	// none; unlike grpc-go, not :authority, user-agent and content-type,
	// which nothing here reads: no map per call.
	var md metadata.MD
	var timeout string
	for _, hf := range f.Fields {
		switch {
		case hf.Name == "grpc-timeout":
			timeout = hf.Value
		case strings.HasPrefix(hf.Name, ":") || reserved[hf.Name]:
		default:
			v, err := decodeMetadata(hf.Name, hf.Value)
			if err != nil {
				return nil, nil, 0, status.Newf(codes.Internal, "malformed binary metadata %q: %v", hf.Name, err)
			}
			if md == nil {
				md = metadata.MD{}
			}
			md[hf.Name] = append(md[hf.Name], v)
		}
	}
	base := c.base
	if md != nil {
		base = metadata.NewIncomingContext(base, md)
	}
	if timeout == "" {
		return m, base, -1, nil
	}
	d, err := decodeTimeout(timeout)
	if err != nil {
		return nil, nil, 0, status.Newf(codes.Internal, "malformed grpc-timeout: %v", err)
	}
	return m, base, d, nil
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// isGRPCContentType is grpc-go's test: application/grpc, alone or followed
// by "+codec" or ";parameters".
func isGRPCContentType(v string) bool {
	rest, ok := strings.CutPrefix(strings.ToLower(v), "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// onData adds a DATA frame to its call's request.
func (c *conn) onData(f *http2.DataFrame) error {
	n := f.Header().Length
	if err := c.consume(n); err != nil {
		return err
	}
	id := f.StreamID
	c.mu.Lock()
	s, idle := c.streams[id], id > c.lastID
	c.mu.Unlock()
	switch {
	case idle:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	case s == nil:
		// A stream answered early or reset: its frames may still arrive.
		return nil
	case s.ended:
		c.endStream(id, http2.ErrCodeStreamClosed)
		return nil
	}
	s.recvUsed += n
	if s.recvUsed > window {
		c.endStream(id, http2.ErrCodeFlowControl)
		return nil
	}
	s.buf = append(s.buf, f.Data()...)
	if st := oversize(s.buf); st != nil {
		// Answered before the stream is forgotten: forgetting the last
		// stream of a draining connection closes our half of it.
		c.answerEarly(id, st, !f.StreamEnded())
		c.forgetStream(id)
		return nil
	}
	if f.StreamEnded() {
		c.requestDone(s)
	} else if s.recvUsed >= window/2 {
		inc := s.recvUsed
		s.recvUsed = 0
		c.write(func() error { return c.wfr.WriteWindowUpdate(id, inc) })
	}
	return nil
}

// oversize is the status for a request that has outgrown a unary call:
// a message over maxRecvMessage, or bytes past its one message. It bounds
// what a stream buffers whatever the windows say.
func oversize(buf []byte) *status.Status {
	if len(buf) < 5 {
		return nil
	}
	size := binary.BigEndian.Uint32(buf[1:5])
	switch {
	case size > maxRecvMessage:
		return status.Newf(codes.ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", size, maxRecvMessage)
	case uint64(len(buf)) > 5+uint64(size):
		return status.New(codes.Internal, "grpc: a unary request held more than one message")
	}
	return nil
}

// consume counts n bytes of DATA against the connection's window, and
// gives them back once half of it is used.
func (c *conn) consume(n uint32) error {
	c.recvUsed += n
	if c.recvUsed > window {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	if c.recvUsed >= window/2 {
		inc := c.recvUsed
		c.recvUsed = 0
		c.write(func() error { return c.wfr.WriteWindowUpdate(0, inc) })
	}
	return nil
}

// requestDone starts the call whose request is complete.
func (c *conn) requestDone(s *stream) {
	s.ended = true
	c.running.Add(1)
	c.srv.dispatch(s)
}

// run makes the call and answers it.
func (c *conn) run(s *stream) {
	msg, st := c.call(s)
	c.respond(s, msg, st)
	c.running.Add(-1)
	c.mu.Lock()
	c.removeLocked(s)
	c.mu.Unlock()
}

// call decodes the request, runs the handler under the interceptor and
// encodes the answer: a gRPC message with its prefix, or a status.
func (c *conn) call(s *stream) ([]byte, *status.Status) {
	body, st := message(s.buf)
	if st != nil {
		return nil, st
	}
	dec := func(v any) error {
		m, ok := v.(proto.Message)
		if !ok {
			return status.Errorf(codes.Internal, "grpc: %T is not a protocol buffer message", v)
		}
		if err := proto.Unmarshal(body, m); err != nil {
			return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
		}
		return nil
	}
	resp, err := s.m.handler(c.srv.impl, s.ctx, dec, c.srv.interceptor)
	if err != nil {
		return nil, errorStatus(err)
	}
	m, ok := resp.(proto.Message)
	if !ok {
		return nil, status.Newf(codes.Internal, "grpc: %T is not a protocol buffer message", resp)
	}
	size := proto.Size(m)
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 5, 5+size), m)
	if err != nil {
		return nil, status.Newf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	binary.BigEndian.PutUint32(out[1:5], uint32(len(out)-5))
	return out, nil
}

// message is the one uncompressed gRPC message a unary request holds.
func message(buf []byte) ([]byte, *status.Status) {
	if len(buf) < 5 {
		return nil, status.New(codes.Internal, "grpc: the request held no message")
	}
	if buf[0] != 0 {
		return nil, status.New(codes.Unimplemented, "grpc: compressed messages are not accepted here: send them uncompressed")
	}
	size := binary.BigEndian.Uint32(buf[1:5])
	switch {
	case uint64(len(buf)-5) < uint64(size):
		return nil, status.Newf(codes.Internal, "grpc: the request ended inside its message (%d of %d bytes)", len(buf)-5, size)
	case uint64(len(buf)-5) > uint64(size):
		return nil, status.New(codes.Internal, "grpc: a unary request held more than one message")
	}
	return buf[5:], nil
}

// errorStatus is a handler's error as grpc-go's server reports it.
func errorStatus(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err)
	}
	return status.New(codes.Unknown, err.Error())
}

// Method, SetHeader, SendHeader and SetTrailer make the stream grpc-go's
// ServerTransportStream, which grpc.SetTrailer and friends look for.

func (s *stream) Method() string { return s.m.info.FullMethod }

func (s *stream) SetHeader(md metadata.MD) error {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.headerSent {
		return errors.New("grpc: the headers were already sent")
	}
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *stream) SendHeader(md metadata.MD) error {
	if err := s.SetHeader(md); err != nil {
		return err
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.headerSent = true
	frame := s.c.frameSize()
	err := s.c.write(func() error { return s.c.writeBlock(s.id, false, frame, responseHeaders(s.header, nil)) })
	if err != nil {
		return fmt.Errorf("grpc: send the headers: %w", err)
	}
	return nil
}

func (s *stream) SetTrailer(md metadata.MD) error {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}
