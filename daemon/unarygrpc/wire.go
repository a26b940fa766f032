package unarygrpc

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/metadata"
)

// reserved are the header fields gRPC keeps for itself: never metadata.
var reserved = map[string]bool{
	"content-type": true, "user-agent": true, "grpc-message-type": true, "grpc-encoding": true,
	"grpc-message": true, "grpc-status": true, "grpc-timeout": true, "grpc-status-details-bin": true, "te": true,
}

// decodeTimeout reads a grpc-timeout value: up to 8 digits and a unit.
func decodeTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, fmt.Errorf("%q is not 1 to 8 digits and a unit", s)
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("%q has no known unit", s)
	}
	n, err := strconv.ParseUint(s[:len(s)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not 1 to 8 digits and a unit", s)
	}
	if n > uint64(math.MaxInt64/unit) {
		return math.MaxInt64, nil
	}
	return time.Duration(n) * unit, nil
}

// decodeMetadata is a metadata value as sent: binary ("-bin") values are
// base64, padded or not.
func decodeMetadata(name, v string) (string, error) {
	if !strings.HasSuffix(name, "-bin") {
		return v, nil
	}
	enc := base64.RawStdEncoding
	if len(v)%4 == 0 {
		enc = base64.StdEncoding
	}
	b, err := enc.DecodeString(v)
	return string(b), err
}

func encodeBinary(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// appendMetadata adds md's fields, binary values in base64, reserved
// names left out.
func appendMetadata(fields []hpack.HeaderField, md metadata.MD) []hpack.HeaderField {
	for k, vs := range md {
		if reserved[k] || strings.HasPrefix(k, ":") {
			continue
		}
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = encodeBinary([]byte(v))
			}
			fields = append(fields, hpack.HeaderField{Name: k, Value: v})
		}
	}
	return fields
}

// encodeGRPCMessage percent-encodes what gRPC's grpc-message may not carry
// as is: bytes outside printable ASCII, and '%'.
func encodeGRPCMessage(m string) string {
	clean := true
	for i := 0; i < len(m); i++ {
		if b := m[i]; b < 0x20 || b > 0x7e || b == '%' {
			clean = false
			break
		}
	}
	if clean {
		return m
	}
	var sb strings.Builder
	for i := 0; i < len(m); i++ {
		if b := m[i]; b < 0x20 || b > 0x7e || b == '%' {
			fmt.Fprintf(&sb, "%%%02X", b)
		} else {
			sb.WriteByte(b)
		}
	}
	return sb.String()
}
