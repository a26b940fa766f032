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
	} else {
		st = status.New(0, "")
	}
	trailers := c.trailerFields(st, s.trailer)
	headerSent := s.headerSent
	s.headerSent = true
	for sent := 0; ; {
		n, frame, ok := c.reserve(s, len(msg)-sent)
		if !ok {
			return // reset by the client, or the connection closed
		}
		c.write(func() error {
			if !headerSent {
				headerSent = true
				if msg == nil {
					return c.writeBlock(s.id, true, frame, c.responseHeaders(s.header, trailers, nil))
				}
				if err := c.writeBlock(s.id, false, frame, c.responseHeaders(s.header, nil, msg)); err != nil {
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
		if sent == len(msg) {
			return
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
		if err := c.writeBlock(id, true, frame, c.responseHeaders(nil, c.trailerFields(st, nil), nil)); err != nil {
			return err
		}
		if stillSending {
			return c.wfr.WriteRSTStream(id, http2.ErrCodeNo)
		}
		return nil
	})
}

// responseHeaders are the fields of an answer's HEADERS: with msg, the
// usual headers; without, a Trailers-Only answer that carries trailers.
func (c *conn) responseHeaders(header metadata.MD, trailers []hpack.HeaderField, msg []byte) []hpack.HeaderField {
	fields := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}}
	fields = appendMetadata(fields, header)
	if msg == nil {
		fields = append(fields, trailers...)
	}
	return fields
}

// trailerFields are the trailers of an answer with st.
func (c *conn) trailerFields(st *status.Status, trailer metadata.MD) []hpack.HeaderField {
	fields := []hpack.HeaderField{{Name: "grpc-status", Value: strconv.Itoa(int(st.Code()))}}
	if m := st.Message(); m != "" {
		fields = append(fields, hpack.HeaderField{Name: "grpc-message", Value: encodeGRPCMessage(m)})
	}
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if b, err := proto.Marshal(p); err == nil {
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
