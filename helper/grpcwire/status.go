package grpcwire

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/dbx-cred/dbx-cred/internal/errkind"
)

// Code is a gRPC status code, numbered as the gRPC specification numbers
// them (doc/statuscodes.md there).
type Code uint32

// The gRPC status codes.
const (
	OK Code = iota
	Canceled
	Unknown
	InvalidArgument
	DeadlineExceeded
	NotFound
	AlreadyExists
	PermissionDenied
	ResourceExhausted
	FailedPrecondition
	Aborted
	OutOfRange
	Unimplemented
	Internal
	Unavailable
	DataLoss
	Unauthenticated
)

var codeNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
	"AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
	"Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
	"Unauthenticated",
}

func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Code(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Status is a call's failure: the daemon's code and message, or one this
// package made up for a transport failure (Unavailable when the daemon
// cannot be reached or hung up, Internal when it broke the protocol).
type Status struct {
	Code    Code
	Message string
	// Kind is the failure's kind (internal/errkind). From the daemon it is
	// the errkind.Trailer it sent, or, from a daemon that sends none, what
	// its code means; for a failure made up here, what the transport saw.
	Kind errkind.Kind
	// KindSent says the daemon sent Kind in its trailer: a dbx-credd that
	// sends none predates the kinds, which callers may need to know.
	KindSent bool
}

// ErrKind is the status's kind, so that errkind.Of finds it in a chain.
func (s *Status) ErrKind() errkind.Kind { return s.Kind }

func (s *Status) Error() string {
	return fmt.Sprintf("rpc error: code = %s desc = %s", s.Code, s.Message)
}

// CodeOf is err's status code: OK for nil, the code of a *Status in err's
// chain, Canceled or DeadlineExceeded for a context's errors, else Unknown.
func CodeOf(err error) Code {
	var st *Status
	switch {
	case err == nil:
		return OK
	case errors.As(err, &st):
		return st.Code
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// MessageOf is the message of the *Status in err's chain, or err's text.
func MessageOf(err error) string {
	var st *Status
	if errors.As(err, &st) {
		return st.Message
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

// statusf is a failure made up here: the daemon did not send it, so an
// Unavailable means the daemon went away, not that a workspace did.
func statusf(c Code, format string, args ...any) *Status {
	return &Status{Code: c, Message: fmt.Sprintf(format, args...), Kind: localKind(c)}
}

func localKind(c Code) errkind.Kind {
	switch c {
	case Unavailable:
		return errkind.NoDaemon
	case DeadlineExceeded:
		return errkind.Timeout
	case Canceled:
		return errkind.Canceled
	}
	return errkind.Internal
}

// remoteStatus is a status the daemon sent, with the kind of its trailer,
// else (an older daemon) the one its code means.
func remoteStatus(c Code, msg, trailer string) *Status {
	if k, ok := errkind.Parse(trailer); ok {
		return &Status{Code: c, Message: msg, Kind: k, KindSent: true}
	}
	return &Status{Code: c, Message: msg, Kind: errkind.FromGRPC(uint32(c))}
}

// codeOfHTTP maps an HTTP status other than 200 to a gRPC code, as
// doc/http-grpc-status-mapping.md in the gRPC repository does.
func codeOfHTTP(status int) Code {
	switch status {
	case 400:
		return Internal
	case 401:
		return Unauthenticated
	case 403:
		return PermissionDenied
	case 404:
		return Unimplemented
	case 429, 502, 503, 504:
		return Unavailable
	}
	return Unknown
}

// codeOfReset maps an HTTP/2 RST_STREAM error code to a gRPC code, as the
// gRPC over HTTP/2 specification (PROTOCOL-HTTP2.md) does.
func codeOfReset(h2code uint32) Code {
	switch h2code {
	case 0x7: // REFUSED_STREAM
		return Unavailable
	case 0x8: // CANCEL
		return Canceled
	case 0xb: // ENHANCE_YOUR_CALM
		return ResourceExhausted
	case 0xc: // INADEQUATE_SECURITY
		return PermissionDenied
	}
	return Internal
}

// decodeMessage undoes grpc-message's percent-encoding (PROTOCOL-HTTP2.md):
// bytes outside printable ASCII, and '%', are sent as %XX. A malformed
// escape is kept as it came, as grpc-go does.
func decodeMessage(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				if b == nil {
					b = append(make([]byte, 0, len(s)), s[:i]...)
				}
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		if b != nil {
			b = append(b, s[i])
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}
