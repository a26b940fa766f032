// Package grpcwire makes unary gRPC calls over HTTP/2 on a connection the
// caller dialled (dbx-credd's Unix socket), for the helper.
//
// The helper runs on every git, curl and SDK call, so its start-up is the
// product. grpc-go's client costs about 3 ms of package initialisation per
// process on the project's machine, more than the whole rest of a call
// (bench/README.md); this package is what the helper needs of it: one call
// at a time, no TLS, no compression, no name resolution, no retries. HPACK,
// the part worth a library, is golang.org/x/net/http2/hpack. The daemon
// stays on grpc-go, and the tests hold this package to it.
package grpcwire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// HTTP/2 frame types and flags (RFC 9113, section 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	settingHeaderTableSize   = 0x1
	settingEnablePush        = 0x2
	settingInitialWindowSize = 0x4

	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

const (
	// maxFrame is the largest frame either side may send: the default,
	// since this client never raises SETTINGS_MAX_FRAME_SIZE.
	maxFrame = 16384
	// window is the receive window this client opens for the connection
	// and for each stream; it tops both up once half is used. Large enough
	// that no answer the daemon gives waits for an update.
	window = 1 << 20
	// MaxMessage bounds an answer, as grpc-go's default receive limit does.
	MaxMessage = 4 << 20
	// maxHeaderBlock bounds a HEADERS block with its CONTINUATIONs, and
	// maxHeaderList the fields it decodes to, counted as RFC 9113 counts
	// them (HPACK table references can make the second far larger).
	maxHeaderBlock = 64 << 10
	maxHeaderList  = 64 << 10
	// maxSendWindow is what the server lets a new stream send before any
	// WINDOW_UPDATE (its initial window, 65535 unless it says otherwise).
	// Requests are a few hundred bytes; this client does not wait for
	// window updates and refuses a request larger than this instead.
	maxSendWindow = 65535
	// deadlineSlack is how close to our deadline a server's CANCEL counts
	// as the deadline running out on its side first.
	deadlineSlack = 10 * time.Millisecond
)

// Conn is an HTTP/2 connection carrying unary gRPC calls, one at a time.
type Conn struct {
	nc     net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	next   uint32 // the next stream id; client streams are odd
	// unacked counts DATA bytes received on the connection since the last
	// WINDOW_UPDATE this client sent for it.
	unacked uint32
	started bool
	broken  *Status // set when the connection cannot carry another call
	// ackFailed is a failed write of an acknowledgement (SETTINGS, PING,
	// WINDOW_UPDATE) during a call. The call still reads its answer, which
	// a server that has closed the connection may have sent before; the
	// connection carries no further call.
	ackFailed error
	frameBuf  []byte
}

// NewConn wraps a connection to a gRPC server. Nothing is sent until the
// first call. The Conn owns nc: Close closes it.
func NewConn(nc net.Conn) *Conn {
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 32<<10), w: bufio.NewWriterSize(nc, 8<<10), next: 1}
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.dec = hpack.NewDecoder(4096, nil)
	c.dec.SetMaxStringLength(maxHeaderBlock)
	return c
}

// Request is a message to send and Response one to decode into: the
// generated messages of proto/dbxcred/v1/dbxcredv1lite, which encode
// without the protobuf runtime (its initialisation is a large part of a
// short-lived helper's start-up).
type (
	Request  interface{ AppendWire([]byte) []byte }
	Response interface{ UnmarshalWire([]byte) error }
)

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Invoke calls method ("/package.Service/Method") with req and decodes the
// answer into resp. A failure is a *Status: the server's, or Unavailable,
// Internal, DeadlineExceeded or Canceled made up here. The context's
// deadline is sent as grpc-timeout and bounds every read and write.
func (c *Conn) Invoke(ctx context.Context, method string, req Request, resp Response) error {
	if c.broken != nil {
		return c.broken
	}
	if err := ctx.Err(); err != nil {
		return contextStatus(err)
	}
	body := req.AppendWire(nil)
	if 5+len(body) > maxSendWindow {
		return statusf(ResourceExhausted, "the %s request is %d bytes, more than this client sends (%d)", method, 5+len(body), maxSendWindow)
	}
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	} else {
		c.nc.SetDeadline(time.Time{})
	}
	// Cancellation ends blocked reads and writes at once.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	st := c.call(ctx, method, body, resp)
	if st != nil && ctx.Err() != nil {
		st = contextStatus(ctx.Err())
		c.broken = st
	}
	// The server's copy of the deadline (grpc-timeout) can run out a few
	// microseconds before ours; it then resets the call with CANCEL. As
	// grpc-go's client does, report that as the deadline it was.
	if d, ok := ctx.Deadline(); ok && st != nil && st.Code == Canceled && time.Until(d) < deadlineSlack {
		st = contextStatus(context.DeadlineExceeded)
		c.broken = st // as for our own deadline: the connection is done
	}
	if st == nil {
		return nil
	}
	return st
}

// call is Invoke's exchange on the wire; a transport failure also marks
// the connection broken.
func (c *Conn) call(ctx context.Context, method string, body []byte, resp Response) *Status {
	id := c.next
	c.next += 2
	if err := c.send(ctx, id, method, body); err != nil {
		c.broken = statusf(Unavailable, "send the request to the server: %v", err)
		return c.broken
	}
	st, transportErr := c.receive(id, resp)
	if transportErr {
		c.broken = st
	}
	if c.ackFailed != nil && c.broken == nil {
		c.broken = statusf(Unavailable, "the connection failed after the answer: %v", c.ackFailed)
	}
	return st
}

func (c *Conn) send(ctx context.Context, id uint32, method string, body []byte) error {
	if !c.started {
		c.started = true
		c.w.WriteString(clientPreface)
		// No server push; a large stream window so answers never wait.
		settings := make([]byte, 0, 12)
		settings = binary.BigEndian.AppendUint16(settings, settingEnablePush)
		settings = binary.BigEndian.AppendUint32(settings, 0)
		settings = binary.BigEndian.AppendUint16(settings, settingInitialWindowSize)
		settings = binary.BigEndian.AppendUint32(settings, window)
		c.writeFrame(frameSettings, 0, 0, settings)
		c.writeFrame(frameWindowUpdate, 0, 0, binary.BigEndian.AppendUint32(nil, window-65535))
	}

	c.encBuf.Reset()
	fields := [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", "localhost"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	}
	if d, ok := ctx.Deadline(); ok {
		fields = append(fields, [2]string{"grpc-timeout", encodeTimeout(time.Until(d))})
	}
	for _, f := range fields {
		if err := c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			return err
		}
	}
	block := c.encBuf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), maxFrame)
		typ, flags := byte(frameHeaders), byte(0)
		if !first {
			typ = frameContinuation
		}
		if n == len(block) {
			flags |= flagEndHeaders
		}
		c.writeFrame(typ, flags, id, block[:n])
		block = block[n:]
	}

	msg := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(msg[1:], uint32(len(body)))
	msg = append(msg, body...)
	for len(msg) > 0 {
		n := min(len(msg), maxFrame)
		flags := byte(0)
		if n == len(msg) {
			flags = flagEndStream
		}
		c.writeFrame(frameData, flags, id, msg[:n])
		msg = msg[n:]
	}
	return c.w.Flush()
}

// writeFrame buffers one frame; errors surface at the next Flush.
func (c *Conn) writeFrame(typ, flags byte, stream uint32, payload []byte) {
	var h [9]byte
	h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], stream&0x7fffffff)
	c.w.Write(h[:])
	c.w.Write(payload)
}

// receive reads frames until stream id ends. transportErr says the
// connection itself failed or broke the protocol, so it cannot be reused.
func (c *Conn) receive(id uint32, resp Response) (st *Status, transportErr bool) {
	r := &reply{id: id, resp: resp}
	for {
		typ, flags, sid, payload, err := c.readFrame()
		if err != nil {
			return readFailure(err), true
		}
		var o outcome
		switch {
		case r.block != nil && typ != frameContinuation:
			o = protocolError("frame type %d inside a header block", typ)
		case typ == frameData:
			o = c.onData(r, flags, sid, payload)
		case typ == frameHeaders || typ == frameContinuation:
			o = c.onHeaders(r, typ, flags, sid, payload)
		default:
			o = c.onControl(id, typ, flags, sid, payload)
		}
		if o.done {
			return o.st, o.broken
		}
	}
}

// reply is one call's answer as its frames arrive.
type reply struct {
	id         uint32
	resp       Response
	headers    map[string]string // the response headers, then the trailers
	sawHeaders bool
	msg        []byte // the gRPC message stream: prefix and body
	block      []byte // a header block being reassembled
	blockEnd   bool   // that block's HEADERS had END_STREAM
	unacked    uint32 // DATA bytes of this stream not yet given back
}

// outcome is what a frame did to the call: nothing yet, or done with st
// (nil for success), broken when the connection cannot carry another call.
type outcome struct {
	st           *Status
	broken, done bool
}

func failed(st *Status, broken bool) outcome { return outcome{st: st, broken: broken, done: true} }

func protocolError(format string, args ...any) outcome {
	return failed(statusf(Internal, "the server broke the HTTP/2 protocol: "+format, args...), true)
}

// readFailure is the status of a connection that could not be read.
func readFailure(err error) *Status {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return statusf(Unavailable, "the server closed the connection before answering")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return statusf(DeadlineExceeded, "no answer before the deadline")
	}
	if st, ok := err.(*Status); ok {
		return st
	}
	return statusf(Unavailable, "read the answer: %v", err)
}

// onControl handles the frames that are not the call's own: settings,
// pings, window updates, GOAWAY, resets and pushes.
func (c *Conn) onControl(id uint32, typ, flags byte, sid uint32, payload []byte) outcome {
	switch typ {
	case frameSettings:
		return c.onSettings(flags, sid, payload)
	case framePing:
		if len(payload) != 8 {
			return protocolError("PING of %d bytes", len(payload))
		}
		if flags&flagAck == 0 {
			c.writeFrame(framePing, flagAck, 0, payload)
			c.ack(c.w.Flush())
		}
	case frameWindowUpdate:
		// Requests fit the initial window (maxSendWindow): nothing waits.
	case frameGoAway:
		if len(payload) < 8 {
			return protocolError("GOAWAY of %d bytes", len(payload))
		}
		if last := binary.BigEndian.Uint32(payload) & 0x7fffffff; last < id {
			return failed(statusf(Unavailable, "the server is shutting down and did not take the call"), true)
		}
		// The call was taken: its answer still comes.
	case frameRSTStream:
		if len(payload) != 4 {
			return protocolError("RST_STREAM of %d bytes", len(payload))
		}
		if sid == id {
			code := binary.BigEndian.Uint32(payload)
			return failed(statusf(codeOfReset(code), "the server reset the call (HTTP/2 error code %d)", code), false)
		}
	case framePushPromise:
		return protocolError("PUSH_PROMISE, which this client disabled")
	default:
		// Unknown frame types are ignored (RFC 9113, section 4.1).
	}
	return outcome{}
}

func (c *Conn) onSettings(flags byte, sid uint32, payload []byte) outcome {
	if sid != 0 {
		return protocolError("SETTINGS on stream %d", sid)
	}
	if flags&flagAck != 0 {
		return outcome{}
	}
	if len(payload)%6 != 0 {
		return protocolError("SETTINGS of %d bytes", len(payload))
	}
	for p := payload; len(p) >= 6; p = p[6:] {
		if binary.BigEndian.Uint16(p) == settingHeaderTableSize {
			c.enc.SetMaxDynamicTableSizeLimit(binary.BigEndian.Uint32(p[2:]))
		}
	}
	c.writeFrame(frameSettings, flagAck, 0, nil)
	c.ack(c.w.Flush())
	return outcome{}
}

// ack notes a failed acknowledgement; see ackFailed.
func (c *Conn) ack(err error) {
	if err != nil && c.ackFailed == nil {
		c.ackFailed = err
	}
}

// onData takes a DATA frame: the call's message bytes, or an earlier
// failed call's, whose window is given back all the same.
func (c *Conn) onData(r *reply, flags byte, sid uint32, payload []byte) outcome {
	data, err := unpad(flags, payload)
	if err != nil {
		return protocolError("%v", err)
	}
	streamUnacked := &r.unacked
	if sid != r.id {
		streamUnacked = nil // a stream of an earlier call that failed
	}
	c.ack(c.consumed(streamUnacked, sid, uint32(len(payload))))
	if sid != r.id {
		return outcome{}
	}
	if !r.sawHeaders {
		return protocolError("DATA before HEADERS")
	}
	if len(r.msg)+len(data) > MaxMessage+5 {
		return failed(statusf(ResourceExhausted, "the answer is larger than %d bytes", MaxMessage), true)
	}
	r.msg = append(r.msg, data...)
	if flags&flagEndStream != 0 {
		return protocolError("the answer ended without trailers")
	}
	return outcome{}
}

// onHeaders reassembles a header block (HEADERS, then CONTINUATIONs) and,
// once whole, reads it: the response headers, or the trailers that end
// the call.
func (c *Conn) onHeaders(r *reply, typ, flags byte, sid uint32, payload []byte) outcome {
	if o, ok := r.addFragment(typ, flags, payload); !ok {
		return o
	}
	if flags&flagEndHeaders == 0 {
		return outcome{}
	}
	fields, err := c.decodeBlock(r.block)
	r.block = nil
	if err != nil {
		return protocolError("%v", err)
	}
	if sid != r.id {
		return outcome{} // decoded all the same: HPACK state is per connection
	}
	r.headers = fields
	if !r.sawHeaders {
		r.sawHeaders = true
		// A gRPC server that answers with a status other than 200
		// is not speaking gRPC; grpc-status, if any, still wins.
		if s := r.headers[":status"]; s != "200" && r.headers["grpc-status"] == "" {
			code, _ := strconv.Atoi(s)
			return failed(statusf(codeOfHTTP(code), "the server answered HTTP status %q", s), false)
		}
	}
	if r.blockEnd {
		return failed(finish(r.headers, r.msg, r.resp), false)
	}
	return outcome{}
}

// addFragment adds a HEADERS or CONTINUATION frame's fragment to the block
// being reassembled; ok is false with the outcome when the frame is wrong.
func (r *reply) addFragment(typ, flags byte, payload []byte) (o outcome, ok bool) {
	if typ == frameHeaders {
		if r.block != nil {
			return protocolError("HEADERS inside a header block"), false
		}
		frag, err := unpad(flags, payload)
		if err != nil {
			return protocolError("%v", err), false
		}
		if flags&flagPriority != 0 {
			if len(frag) < 5 {
				return protocolError("HEADERS too short for its priority"), false
			}
			frag = frag[5:]
		}
		r.block, r.blockEnd = append(make([]byte, 0, len(frag)), frag...), flags&flagEndStream != 0
	} else {
		if r.block == nil {
			return protocolError("CONTINUATION without HEADERS"), false
		}
		r.block = append(r.block, payload...)
	}
	if len(r.block) > maxHeaderBlock {
		return protocolError("a header block over %d bytes", maxHeaderBlock), false
	}
	return outcome{}, true
}

// finish turns the trailers and the message bytes into the call's result.
func finish(trailers map[string]string, msg []byte, resp Response) *Status {
	raw, ok := trailers["grpc-status"]
	if !ok {
		return statusf(Internal, "the answer has no grpc-status")
	}
	n, err := strconv.ParseUint(raw, 10, 32)
	if err != nil {
		return statusf(Internal, "the answer's grpc-status %q is not a number", raw)
	}
	if code := Code(n); code != OK {
		return remoteStatus(code, decodeMessage(trailers["grpc-message"]), trailers[errkind.Trailer])
	}
	if len(msg) < 5 {
		return statusf(Internal, "the server answered OK without a message")
	}
	if msg[0] != 0 {
		return statusf(Internal, "the answer is compressed, which this client did not offer")
	}
	if n := binary.BigEndian.Uint32(msg[1:5]); int64(n) != int64(len(msg)-5) {
		return statusf(Internal, "the answer holds %d bytes where its prefix says %d (one message expected)", len(msg)-5, n)
	}
	if err := resp.UnmarshalWire(msg[5:]); err != nil {
		return statusf(Internal, "decode the answer: %v", err)
	}
	return nil
}

// readFrame reads one frame. The payload is valid until the next call.
func (c *Conn) readFrame() (typ, flags byte, stream uint32, payload []byte, err error) {
	var h [9]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, 0, 0, nil, err
	}
	n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	if n > maxFrame {
		return 0, 0, 0, nil, statusf(Internal, "the server broke the HTTP/2 protocol: a frame of %d bytes, over %d", n, maxFrame)
	}
	if cap(c.frameBuf) < n {
		c.frameBuf = make([]byte, n, maxFrame)
	}
	payload = c.frameBuf[:n]
	if _, err := io.ReadFull(c.r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, 0, nil, err
	}
	return h[3], h[4], binary.BigEndian.Uint32(h[5:]) & 0x7fffffff, payload, nil
}

// unpad strips a PADDED frame's padding.
func unpad(flags byte, p []byte) ([]byte, error) {
	if flags&flagPadded == 0 {
		return p, nil
	}
	if len(p) < 1 || int(p[0]) > len(p)-1 {
		return nil, errors.New("padding longer than the frame")
	}
	return p[1 : len(p)-int(p[0])], nil
}

// consumed counts received DATA against the connection's window and, when
// stream is not nil, the stream's, and gives back either once half is used.
func (c *Conn) consumed(stream *uint32, id, n uint32) error {
	if n == 0 {
		return nil
	}
	flush := false
	if c.unacked += n; c.unacked >= window/2 {
		c.writeFrame(frameWindowUpdate, 0, 0, binary.BigEndian.AppendUint32(nil, c.unacked))
		c.unacked, flush = 0, true
	}
	if stream != nil {
		if *stream += n; *stream >= window/2 {
			c.writeFrame(frameWindowUpdate, 0, id, binary.BigEndian.AppendUint32(nil, *stream))
			*stream, flush = 0, true
		}
	}
	if !flush {
		return nil
	}
	return c.w.Flush()
}

// decodeBlock decodes a whole header block. A field repeated keeps its
// last value: gRPC's response fields are not repeated.
func (c *Conn) decodeBlock(block []byte) (map[string]string, error) {
	fields := make(map[string]string, 8)
	size := 0
	c.dec.SetEmitFunc(func(f hpack.HeaderField) {
		if size += len(f.Name) + len(f.Value) + 32; size <= maxHeaderList {
			fields[f.Name] = f.Value
		}
	})
	if _, err := c.dec.Write(block); err != nil {
		return nil, fmt.Errorf("undecodable headers: %w", err)
	}
	if err := c.dec.Close(); err != nil {
		return nil, fmt.Errorf("undecodable headers: %w", err)
	}
	if size > maxHeaderList {
		return nil, fmt.Errorf("headers of %d bytes, over %d", size, maxHeaderList)
	}
	return fields, nil
}

// encodeTimeout writes d as a grpc-timeout value: at most 8 digits and a
// unit, rounded up so the server never gives up before the client does.
func encodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"n", time.Nanosecond}, {"u", time.Microsecond}, {"m", time.Millisecond}, {"S", time.Second}, {"M", time.Minute}} {
		if v := (d + u.size - 1) / u.size; v <= 99999999 {
			return strconv.FormatInt(int64(v), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64((d+time.Hour-1)/time.Hour), 10) + "H"
}

func contextStatus(err error) *Status {
	if errors.Is(err, context.DeadlineExceeded) {
		return statusf(DeadlineExceeded, "no answer before the deadline")
	}
	return statusf(Canceled, "the call was canceled")
}
