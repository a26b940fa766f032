package unarygrpc

import (
	"context"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// respond writes a call's answer: HEADERS, the message in DATA frames as
// the client's windows allow, and the trailers; or, for a failure before
// any header went out, one Trailers-Only HEADERS. The usual answer fits
// the windows and goes out in one write.
func (c *conn) respond(s *stream, msg []byte, st *status.Status) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if st != nil {
		msg = nil
	}
	trailers := trailerFields(st, s.trailer)
	headerSent := s.headerSent
	s.headerSent = true
	for sent := 0; ; {
		n, frame, ok := c.reserve(s, len(msg)-sent)
		if !ok {
			return // reset by the client, or the connection closed
		}
		err := c.write(func() error {
			if !headerSent {
				headerSent = true
				if msg == nil && len(s.header) == 0 {
					return c.writeBlock(s.id, true, frame, responseHeaders(nil, trailers))
				}
				// Header metadata goes in HEADERS of its own, as grpc-go
				// sends it, even before a failure's trailers.
				if err := c.writeBlock(s.id, false, frame, responseHeaders(s.header, nil)); err != nil {
					return err
				}
			}
			for chunk := msg[sent : sent+n]; len(chunk) > 0; {
				k := min(len(chunk), int(frame))
				if err := c.wfr.WriteData(s.id, false, chunk[:k]); err != nil {
					return err
				}
				chunk = chunk[k:]
			}
			sent += n
			if sent < len(msg) {
				return nil
			}
			return c.writeBlock(s.id, true, frame, trailers)
		})
		if err != nil || sent == len(msg) {
			return // the connection failed, or the answer is out
		}
	}
}

// reserve takes up to want bytes of the client's send windows for s,
// waiting while they are empty; it returns 0 at once for want 0. ok is
// false when the stream was reset or the connection closed. frame is the
// largest frame the client takes.
func (c *conn) reserve(s *stream, want int) (n int, frame uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	for {
		if s.reset || c.closed {
			return 0, 0, false
		}
		if avail := min(c.sendWindow, s.sendWindow); want == 0 || avail > 0 {
			n = min(int(max(avail, 0)), want)
			c.sendWindow -= int32(n)
			s.sendWindow -= int32(n)
			return n, c.peerFrame, true
		}
		if s.ctx.Err() != nil {
			return 0, 0, false
		}
		if stop == nil {
			// A client that never opens its window: the call's deadline
			// or cancellation still ends the wait.
			stop = context.AfterFunc(s.ctx, func() {
				c.mu.Lock()
				c.cond.Broadcast()
				c.mu.Unlock()
			})
		}
		c.cond.Wait()
	}
}

// frameSize is the largest frame the client takes.
func (c *conn) frameSize() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peerFrame
}

// answerEarly answers a call refused before its handler: one Trailers-Only
// HEADERS, then RST_STREAM(NO_ERROR) if the client is still sending
// (RFC 9113, 8.1), so it stops.
func (c *conn) answerEarly(id uint32, st *status.Status, stillSending bool) {
	frame := c.frameSize()
	c.write(func() error {
		if err := c.writeBlock(id, true, frame, responseHeaders(nil, trailerFields(st, nil))); err != nil {
			return err
		}
		if stillSending {
			return c.wfr.WriteRSTStream(id, http2.ErrCodeNo)
		}
		return nil
	})
}

// The usual answer's fields: made once, never appended to in place.
var (
	okHeaders  = []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}}
	okTrailers = []hpack.HeaderField{{Name: "grpc-status", Value: "0"}}
)

// responseHeaders are the fields of an answer's HEADERS: the usual
// headers, and with trailers a Trailers-Only answer that carries them.
func responseHeaders(header metadata.MD, trailers []hpack.HeaderField) []hpack.HeaderField {
	if trailers == nil && len(header) == 0 {
		return okHeaders
	}
	fields := append(make([]hpack.HeaderField, 0, len(okHeaders)+len(header)+len(trailers)), okHeaders...)
	return append(appendMetadata(fields, header), trailers...)
}

// trailerFields are the trailers of an answer with st (nil: success).
func trailerFields(st *status.Status, trailer metadata.MD) []hpack.HeaderField {
	if st == nil {
		if len(trailer) == 0 {
			return okTrailers
		}
		return appendMetadata(append(make([]hpack.HeaderField, 0, 1+len(trailer)), okTrailers...), trailer)
	}
	fields := []hpack.HeaderField{{Name: "grpc-status", Value: strconv.Itoa(int(st.Code()))}}
	if m := st.Message(); m != "" {
		fields = append(fields, hpack.HeaderField{Name: "grpc-message", Value: encodeGRPCMessage(m)})
	}
	// Details() costs nothing without details; Proto() copies the status.
	if len(st.Details()) > 0 {
		if b, err := proto.Marshal(st.Proto()); err == nil {
			fields = append(fields, hpack.HeaderField{Name: "grpc-status-details-bin", Value: encodeBinary(b)})
		}
	}
	return appendMetadata(fields, trailer)
}

// writeBlock HPACK-encodes fields into one HEADERS frame and as many
// CONTINUATIONs as frame calls for; c.wmu is held.
func (c *conn) writeBlock(id uint32, endStream bool, frame uint32, fields []hpack.HeaderField) error {
	c.hbuf.Reset()
	for _, f := range fields {
		if err := c.enc.WriteField(f); err != nil {
			return err
		}
	}
	block := c.hbuf.Bytes()
	first := block[:min(len(block), int(frame))]
	block = block[len(first):]
	if err := c.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(block) == 0}); err != nil {
		return err
	}
	for len(block) > 0 {
		next := block[:min(len(block), int(frame))]
		block = block[len(next):]
		if err := c.wfr.WriteContinuation(id, len(block) == 0, next); err != nil {
			return err
		}
	}
	return nil
}
