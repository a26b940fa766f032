package unarygrpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
)

// request is a GetToken call's frames for stream id, as a client sends
// them, HPACK-encoded with a fresh encoder.
func request(t testing.TB, id uint32) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/dbxcred.v1.AgentService/GetToken"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}, {"te", "trailers"}, {"grpc-timeout", "5S"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndHeaders: true})
	body, err := proto.Marshal(&pb.GetTokenRequest{Profile: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	msg := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body)))
	fr.WriteData(id, true, append(msg, body...))
	return out.Bytes()
}

// exchange sends the preface, a SETTINGS frame and then frames on a new
// connection, half-closes it, and returns the frames the server sent
// until it closed. It fails the test if the server does not close it.
func exchange(t testing.TB, sock string, frames []byte) []http2.Frame {
	t.Helper()
	nc, out := dialRaw(t, sock, frames)
	defer nc.Close()
	go func() {
		nc.Write(out)
		nc.(*net.UnixConn).CloseWrite()
	}()
	fr := http2.NewFramer(nil, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var got []http2.Frame
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return got
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server neither answered nor closed the connection in 10s")
			}
			return got // a frame the client side cannot parse; the server closed after it
		}
		got = append(got, f)
	}
}

// dialRaw connects to sock with a 10 s deadline and returns what to send
// on it: the preface, an empty SETTINGS frame, then frames.
func dialRaw(t testing.TB, sock string, frames []byte) (net.Conn, []byte) {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	http2.NewFramer(&out, nil).WriteSettings()
	out.Write(frames)
	return nc, out.Bytes()
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe)
}

func goAwayCode(frames []http2.Frame) (http2.ErrCode, bool) {
	for _, f := range frames {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			return g.ErrCode, true
		}
	}
	return 0, false
}

// TestProtocolViolations: a client that breaks HTTP/2 gets GOAWAY with
// the error's code and the connection closes; a well-formed call on the
// same kind of connection is answered.
func TestProtocolViolations(t *testing.T) {
	_, sock := serveFake(t, newFake())
	frame := func(write func(fr *http2.Framer)) []byte {
		var b bytes.Buffer
		write(http2.NewFramer(&b, nil))
		return b.Bytes()
	}
	cases := []struct {
		name   string
		frames []byte
		code   http2.ErrCode
	}{
		{"even stream id", request(t, 2), http2.ErrCodeProtocol},
		{"stream ids going down", append(request(t, 5), request(t, 3)...), http2.ErrCodeProtocol},
		{"DATA on an idle stream", frame(func(fr *http2.Framer) { fr.WriteData(9, true, []byte{0, 0, 0, 0, 0}) }), http2.ErrCodeProtocol},
		{"CONTINUATION alone", frame(func(fr *http2.Framer) { fr.WriteContinuation(1, true, []byte{0x82}) }), http2.ErrCodeProtocol},
		{"PUSH_PROMISE", frame(func(fr *http2.Framer) {
			fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: []byte{0x82}, EndHeaders: true})
		}), http2.ErrCodeProtocol},
		{"frame over 16 KB", frame(func(fr *http2.Framer) { fr.WriteRawFrame(0xff, 0, 0, make([]byte, 20000)) }), http2.ErrCodeFrameSize},
		{"window overflow", frame(func(fr *http2.Framer) { fr.WriteWindowUpdate(0, 1<<31-1) }), http2.ErrCodeFlowControl},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, ok := goAwayCode(exchange(t, sock, tc.frames))
			if !ok || code != tc.code {
				t.Errorf("GOAWAY %v (sent: %v), want %v", code, ok, tc.code)
			}
		})
	}

	t.Run("well-formed", func(t *testing.T) { wellFormed(t, sock) })
}

// wellFormed makes a GetToken call with hand-made frames and checks that
// it is answered with grpc-status 0.
func wellFormed(t testing.TB, sock string) {
	t.Helper()
	nc, out := dialRaw(t, sock, request(t, 1))
	defer nc.Close()
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nil, nc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no trailers for a well-formed call: %v", err)
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamEnded() {
			if got := h.PseudoValue("status"); got != "" && got != "200" {
				t.Errorf(":status %s", got)
			}
			for _, hf := range h.Fields {
				if hf.Name == "grpc-status" && hf.Value != "0" {
					t.Errorf("grpc-status %s", hf.Value)
				}
			}
			return
		}
	}
}

// TestMoreThanOneMessage: bytes past a unary request's one message end
// the call with a status, however the windows are opened, rather than
// being buffered.
func TestMoreThanOneMessage(t *testing.T) {
	_, sock := serveFake(t, newFake())
	var out, hb bytes.Buffer
	fr, enc := http2.NewFramer(&out, nil), hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/dbxcred.v1.AgentService/GetToken"},
		{":authority", "localhost"}, {"content-type", "application/grpc"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	fr.WriteData(1, false, []byte{0, 0, 0, 0, 1, 0x0a})
	fr.WriteData(1, false, make([]byte, 1000))
	var status string
	for _, f := range exchange(t, sock, out.Bytes()) {
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 1 {
			for _, hf := range h.Fields {
				if hf.Name == "grpc-status" {
					status = hf.Value
				}
			}
		}
	}
	if status != "13" {
		t.Errorf("grpc-status %q, want 13 (Internal)", status)
	}
}

// TestBadPreface: a connection that does not start with HTTP/2's preface
// is closed without an answer.
func TestBadPreface(t *testing.T) {
	_, sock := serveFake(t, newFake())
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if b, err := io.ReadAll(nc); len(b) != 0 || (err != nil && !isReset(err)) {
		t.Errorf("answered %q (%v), want the connection closed", b, err)
	}
}

// FuzzConn feeds arbitrary bytes after the preface: the server must close
// every such connection (never hang or crash) and keep serving.
func FuzzConn(f *testing.F) {
	var ping, settings bytes.Buffer
	http2.NewFramer(&ping, nil).WritePing(false, [8]byte{1})
	http2.NewFramer(&settings, nil).WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	f.Add(request(f, 1))
	f.Add(append(settings.Bytes(), request(f, 1)...))
	f.Add(append(request(f, 1), ping.Bytes()...))
	f.Add(append(append(request(f, 1), request(f, 3)...), request(f, 5)...))
	_, sock := serveFake(f, newFake())
	f.Fuzz(func(t *testing.T, frames []byte) {
		exchange(t, sock, frames)
	})
	wellFormed(f, sock) // still serving
}
