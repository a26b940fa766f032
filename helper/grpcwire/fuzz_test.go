package grpcwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	pb "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1"
	lite "github.com/dbx-cred/dbx-cred/proto/dbxcred/v1/dbxcredv1lite"
)

// frame is one HTTP/2 frame's bytes, for building server answers by hand.
func frame(typ, flags byte, stream uint32, payload []byte) []byte {
	h := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags}
	h = binary.BigEndian.AppendUint32(h, stream)
	return append(h, payload...)
}

func headerBlock(fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// okAnswer is what a gRPC server sends for a successful GetToken on
// stream 1: settings, headers, one message, trailers.
func okAnswer() []byte {
	msg, _ := proto.Marshal(&pb.GetTokenResponse{AccessToken: "tok"})
	return okAnswerWith(msg)
}

func okAnswerWith(msg []byte) []byte {
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	var out []byte
	out = append(out, frame(frameSettings, 0, 0, nil)...)
	out = append(out, frame(frameHeaders, flagEndHeaders, 1, headerBlock(":status", "200", "content-type", "application/grpc"))...)
	out = append(out, frame(frameData, 0, 1, body)...)
	out = append(out, frame(frameHeaders, flagEndHeaders|flagEndStream, 1, headerBlock("grpc-status", "0"))...)
	return out
}

// answer runs one GetToken against a peer that sends server bytes
// whatever it is asked, and returns what Invoke returned. With hangUp the
// peer closes the connection once it has sent them; without, it waits for
// the client to close.
func answer(server []byte, hangUp bool) (*lite.GetTokenResponse, error) {
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() {
		defer srv.Close()
		drained := make(chan struct{})
		go func() { io.Copy(io.Discard, srv); close(drained) }()
		srv.Write(server)
		if !hangUp {
			<-drained
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var resp lite.GetTokenResponse
	err := NewConn(cli).Invoke(ctx, method("GetToken"), &lite.GetTokenRequest{Profile: "p"}, &resp)
	return &resp, err
}

func TestHandBuiltAnswer(t *testing.T) {
	resp, err := answer(okAnswer(), false)
	if err != nil || resp.GetAccessToken() != "tok" {
		t.Fatalf("got %v, %v", resp, err)
	}
	// Padding, a PING and an unknown frame type on the way.
	msg, _ := proto.Marshal(&pb.GetTokenResponse{AccessToken: "tok"})
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	padded := append(append([]byte{3}, append(body, msg...)...), 0, 0, 0)
	var s []byte
	s = append(s, frame(framePing, 0, 0, make([]byte, 8))...)
	s = append(s, frame(0xfa, 0, 0, []byte("unknown"))...)
	s = append(s, frame(frameHeaders, flagEndHeaders, 1, headerBlock(":status", "200"))...)
	s = append(s, frame(frameData, flagPadded, 1, padded)...)
	s = append(s, frame(frameHeaders, flagEndHeaders|flagEndStream, 1, headerBlock("grpc-status", "0"))...)
	if resp, err := answer(s, false); err != nil || resp.GetAccessToken() != "tok" {
		t.Fatalf("padded answer: got %v, %v", resp, err)
	}
	// Trailers-only: the status in the one HEADERS frame.
	s = frame(frameHeaders, flagEndHeaders|flagEndStream, 1, headerBlock(":status", "200", "grpc-status", "5", "grpc-message", "gone%21"))
	if _, err := answer(s, false); CodeOf(err) != NotFound || MessageOf(err) != "gone!" {
		t.Fatalf("trailers-only: got %v", err)
	}
	// An answer cut short is Unavailable.
	if _, err := answer(okAnswer()[:40], true); CodeOf(err) != Unavailable {
		t.Fatalf("cut short: got %v", err)
	}
}

// FuzzAnswer feeds arbitrary server bytes to a call: it must end with an
// answer or a *Status, never a panic or a hang.
func FuzzAnswer(f *testing.F) {
	f.Add(okAnswer())
	f.Add(frame(frameHeaders, flagEndHeaders|flagEndStream, 1, headerBlock(":status", "200", "grpc-status", "5")))
	f.Add(frame(frameHeaders, flagEndHeaders, 1, headerBlock(":status", "503")))
	f.Add(frame(frameGoAway, 0, 0, make([]byte, 8)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, server []byte) {
		_, err := answer(server, true)
		if err != nil {
			if _, ok := err.(*Status); !ok {
				t.Fatalf("a failure that is not a *Status: %T %v", err, err)
			}
		}
	})
}
