package unarygrpc

import (
	"math"
	"testing"
	"time"
)

func TestDecodeTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30S", 30 * time.Second, true},
		{"29999987u", 29999987 * time.Microsecond, true},
		{"1H", time.Hour, true},
		{"2M", 2 * time.Minute, true},
		{"5m", 5 * time.Millisecond, true},
		{"7n", 7, true},
		{"0S", 0, true},
		{"99999999H", math.MaxInt64, true}, // beyond a Duration: as long as one goes
		{"", 0, false},
		{"S", 0, false},
		{"123456789S", 0, false}, // more than 8 digits
		{"10x", 0, false},
		{"-1S", 0, false},
		{"1.5S", 0, false},
	} {
		got, err := decodeTimeout(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("decodeTimeout(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestEncodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":    "plain text",
		"100%":          "100%25",
		"line\nbreak":   "line%0Abreak",
		"café":          "caf%C3%A9",
		"tab\tand \x7f": "tab%09and %7F",
	} {
		if got := encodeGRPCMessage(in); got != want {
			t.Errorf("encodeGRPCMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsGRPCContentType(t *testing.T) {
	for in, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc;charset=utf-8": true,
		"Application/GRPC": true, "application/grpcx": false, "application/json": false, "": false,
	} {
		if got := isGRPCContentType(in); got != want {
			t.Errorf("isGRPCContentType(%q) = %v, want %v", in, got, want)
		}
	}
}
