// Package grpcload is a load generator for one unary gRPC method on a Unix
// socket: each Conn re-sends frames encoded once and parses only what
// proves a call worked (grpc-status 0 and a message that decodes).
//
// The throughput benchmark's load generator shares the machine's 2 cores
// with dbx-credd, and grpc-go's own client spends about as much CPU per call
// as the daemon does, so a benchmark driven only by grpc-go measures the two
// together. This plays the part wrk or h2load play for HTTP servers; neither
// speaks gRPC on a Unix socket. It also counts the control frames the server
// sends, which is how a test holds the daemon to no PING per call.
//
// It is for benchmarks and tests, not a general client: one call in flight
// at a time, no send-side flow control (a request is a few dozen bytes, far
// below any window), and a frame it does not expect ends the call with an
// error.
package grpcload

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"
)

// window is the connection receive window a Conn keeps open; it tops it up
// once a quarter is used, as grpc-go does.
const window = 1 << 20

// Conn is one HTTP/2 connection making calls of one method, one at a time.
type Conn struct {
	conn   net.Conn
	w      *bufio.Writer
	fr     *http2.Framer
	first  []byte // HPACK block of the first request's headers
	header []byte // HPACK block of every later request's: table references
	body   []byte // gRPC message frame: flag, length, proto bytes
	stream uint32
	unack  uint32 // DATA bytes received since the last WINDOW_UPDATE sent

	// Pings and WindowUpdates count the PING (not acks) and WINDOW_UPDATE
	// frames the server has sent on this connection.
	Pings, WindowUpdates int
}

// Dial connects to the gRPC server on the Unix socket path and prepares
// calls of method (a full name, "/package.Service/Method") with req.
func Dial(path, method string, req proto.Message) (*Conn, error) {
	msg, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the request: %w", err)
	}
	body := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)

	// Encoded as grpc-go encodes them: the first block adds each field to
	// the HPACK dynamic table, and every later block is the same fields as
	// table references, so the server decodes what a real client sends.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	var blocks [2][]byte
	for i := range blocks {
		for _, f := range [][2]string{
			{":method", "POST"}, {":scheme", "http"}, {":path", method},
			{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"},
		} {
			if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
				return nil, fmt.Errorf("encode the request headers: %w", err)
			}
		}
		blocks[i] = bytes.Clone(hb.Bytes())
		hb.Reset()
	}

	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: conn, w: bufio.NewWriterSize(conn, 4096), first: blocks[0], header: blocks[1], body: body, stream: 1}
	c.fr = http2.NewFramer(c.w, bufio.NewReaderSize(conn, 16<<10))
	c.fr.SetReuseFrames()
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := c.preface(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("start HTTP/2 on %s: %w", path, err)
	}
	return c, nil
}

func (c *Conn) preface() error {
	if _, err := c.w.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := c.fr.WriteSettings(); err != nil {
		return err
	}
	if err := c.fr.WriteWindowUpdate(0, window-65535); err != nil {
		return err
	}
	return c.w.Flush()
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

// Call sends one request and reads until its trailers, decoding the answer
// into resp. Connection frames that arrive meanwhile (SETTINGS, PING,
// WINDOW_UPDATE) are answered as HTTP/2 requires.
func (c *Conn) Call(resp proto.Message) error {
	id := c.stream
	c.stream += 2
	block := c.header
	if id == 1 {
		block = c.first
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); err != nil {
		return err
	}
	if err := c.fr.WriteData(id, true, c.body); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	gotMsg := false
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("read frame: %w", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := c.reply(c.fr.WriteSettingsAck()); err != nil {
					return err
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.Pings++
				if err := c.reply(c.fr.WritePing(true, f.Data)); err != nil {
					return err
				}
			}
		case *http2.WindowUpdateFrame:
			c.WindowUpdates++
		case *http2.DataFrame:
			if err := c.consumed(uint32(f.Length)); err != nil {
				return err
			}
			if f.StreamID != id {
				return fmt.Errorf("DATA for stream %d while waiting for %d", f.StreamID, id)
			}
			d := f.Data()
			if len(d) < 5 || d[0] != 0 || int(binary.BigEndian.Uint32(d[1:5])) != len(d)-5 {
				return errors.New("the answer is not one whole uncompressed gRPC message in one DATA frame")
			}
			if err := proto.Unmarshal(d[5:], resp); err != nil {
				return fmt.Errorf("decode the answer: %w", err)
			}
			gotMsg = true
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				return fmt.Errorf("HEADERS for stream %d while waiting for %d", f.StreamID, id)
			}
			if !f.StreamEnded() {
				continue // the response headers; the status is in the trailers
			}
			if st := f.PseudoValue("status"); st != "" && st != "200" {
				return fmt.Errorf("HTTP status %s", st)
			}
			if st := field(f, "grpc-status"); st != "0" {
				return fmt.Errorf("grpc-status %q: %s", st, field(f, "grpc-message"))
			}
			if !gotMsg {
				return errors.New("grpc-status 0 without a message")
			}
			return nil
		case *http2.RSTStreamFrame:
			return fmt.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			return fmt.Errorf("the server sent GOAWAY: %v %s", f.ErrCode, f.DebugData())
		default:
			return fmt.Errorf("unexpected frame %v", f.Header())
		}
	}
}

// reply flushes a frame just written, unless writing it failed.
func (c *Conn) reply(err error) error {
	if err != nil {
		return err
	}
	return c.w.Flush()
}

// field is the value of the regular header field name, or "".
func field(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.RegularFields() {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// consumed counts received DATA against the connection window and tops the
// window up once a quarter of it is used.
func (c *Conn) consumed(n uint32) error {
	c.unack += n
	if c.unack < window/4 {
		return nil
	}
	if err := c.fr.WriteWindowUpdate(0, c.unack); err != nil {
		return err
	}
	c.unack = 0
	return c.w.Flush()
}
