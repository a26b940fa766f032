// Package errkind is dbx-cred's one error vocabulary: the kinds of failure
// a caller can act on, and the one table that says, for each kind, the gRPC
// code the daemon answers with, the HTTP status the metadata service and
// the local proxy answer with, the helper's exit code, and a line of help.
//
// The daemon wraps an error with its kind where the failure is understood
// (Wrap, New, or a type with an ErrKind method); the gRPC adapter sends the
// kind's name in the Trailer alongside the status, and the helper reads it
// back and exits with the table's code. Nothing else translates errors, so
// adding a kind is one row here.
//
// The package links nothing but the standard library: the helper imports
// it, and the helper links neither grpc-go nor the SDK.
package errkind

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Kind is a class of failure that the caller handles the same way.
type Kind uint8

// The kinds. Internal is the zero value: an error nobody classified.
const (
	Internal      Kind = iota // a bug, or a failure nobody classified
	NoDaemon                  // no dbx-credd answers (the helper's own kind)
	Untrusted                 // the socket or the server belongs to another user
	NotFound                  // no such profile, login or item
	BadInput                  // the request itself is wrong
	NeedsLogin                // the workspace rejected the stored credential
	StoreUnusable             // no store, or one that does not answer
	StoreLocked               // the file store is locked
	Unreachable               // the workspace (or identity provider) cannot be reached
	Quota                     // the workspace refuses more tokens for this user
	Busy                      // too many logins at once, no free callback port
	Conflict                  // another caller already holds what was asked for
	Canceled                  // the caller went away
	Timeout                   // a deadline passed
	Refused                   // refused by policy: not this caller, not this scope
	Unsupported               // this dbx-credd is too old for the call
	Disabled                  // this dbx-credd runs with the feature off
	NotLent                   // not through a forwarding socket: not lent to this machine
	numKinds
)

// Row is one line of the table.
type Row struct {
	Kind Kind
	// Name is the kind on the wire (the Trailer's value) and in JSON.
	Name string
	// GRPC is the gRPC status code's number (codes.Code), kept as a plain
	// number so that the helper need not link grpc-go.
	GRPC uint32
	// HTTP is the status an HTTP adapter answers with.
	HTTP int
	// Exit is the helper's exit code.
	Exit int
	// Help is one line for the "Exit status" section and docs.
	Help string
}

// gRPC code numbers (google.golang.org/grpc/codes), for the table.
const (
	grpcCanceled           = 1
	grpcUnknown            = 2
	grpcInvalidArgument    = 3
	grpcDeadlineExceeded   = 4
	grpcNotFound           = 5
	grpcPermissionDenied   = 7
	grpcResourceExhausted  = 8
	grpcFailedPrecondition = 9
	grpcAborted            = 10
	grpcUnimplemented      = 12
	grpcInternal           = 13
	grpcUnavailable        = 14
	grpcUnauthenticated    = 16
)

// The helper's exit codes. ExitOK and ExitFailure are not kinds' own: a
// success, and the code of every kind the caller cannot act on.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitNoDaemon    = 2
	ExitNoProfile   = 3
	ExitRejected    = 4
	ExitStore       = 5
	ExitUnreachable = 6
	ExitNotLent     = 7
	ExitUsage       = 64
)

// Trailer is the gRPC trailer (metadata key) that carries a failed call's
// kind by name. A status without it (an older daemon, a proxy) is read by
// its code alone: FromGRPC.
const Trailer = "dbx-cred-kind"

// rows is indexed by Kind. It is a function, not a package variable, so
// that no caller can change the table.
func rows() [numKinds]Row {
	return [numKinds]Row{
		Internal:      {Internal, "internal", grpcInternal, 500, ExitFailure, "other error (the message says what went wrong)"},
		NoDaemon:      {NoDaemon, "no-daemon", grpcUnavailable, 503, ExitNoDaemon, "dbx-credd is not running and could not be started, or cannot be reached"},
		Untrusted:     {Untrusted, "untrusted", grpcPermissionDenied, 403, ExitNoDaemon, "the socket or the server on it belongs to another user: nothing was sent"},
		NotFound:      {NotFound, "not-found", grpcNotFound, 404, ExitNoProfile, "no such profile"},
		BadInput:      {BadInput, "bad-input", grpcInvalidArgument, 400, ExitUsage, "usage error, or bad input (a host, a profile name, an empty token)"},
		NeedsLogin:    {NeedsLogin, "needs-login", grpcUnauthenticated, 401, ExitRejected, "the workspace rejected the token: log in again"},
		StoreUnusable: {StoreUnusable, "store-unusable", grpcFailedPrecondition, 503, ExitStore, "the store cannot be used: locked (dbx-cred unlock), no Secret Service, a keyring that does not answer"},
		StoreLocked:   {StoreLocked, "store-locked", grpcFailedPrecondition, 503, ExitStore, "the store is locked: dbx-cred unlock"},
		Unreachable:   {Unreachable, "unreachable", grpcUnavailable, 502, ExitUnreachable, "the workspace cannot be reached"},
		Quota:         {Quota, "quota", grpcResourceExhausted, 429, ExitFailure, "the workspace refuses more tokens for this user"},
		Busy:          {Busy, "busy", grpcResourceExhausted, 503, ExitFailure, "too many logins at once, or no free port: try again"},
		Conflict:      {Conflict, "conflict", grpcAborted, 409, ExitFailure, "another caller already holds this (a login awaited elsewhere)"},
		Canceled:      {Canceled, "canceled", grpcCanceled, 504, ExitFailure, "the call was cancelled"},
		Timeout:       {Timeout, "timeout", grpcDeadlineExceeded, 504, ExitFailure, "a deadline passed"},
		Refused:       {Refused, "refused", grpcPermissionDenied, 403, ExitFailure, "refused by policy: not this caller, profile or scope"},
		Unsupported:   {Unsupported, "unsupported", grpcUnimplemented, 501, ExitFailure, "this dbx-credd is too old: upgrade it, then dbx-cred daemon restart"},
		Disabled:      {Disabled, "disabled", grpcFailedPrecondition, 503, ExitFailure, "the feature is off in this dbx-credd (the message says how to turn it on)"},
		NotLent:       {NotLent, "not-lent", grpcPermissionDenied, 403, ExitNotLent, "refused through a forwarded socket: that profile or command is not lent to this machine (run it where dbx-credd runs)"},
	}
}

// Rows is the whole table, in Kind order.
func Rows() []Row {
	r := rows()
	return r[:]
}

func (k Kind) row() Row {
	if k >= numKinds {
		k = Internal
	}
	return rows()[k]
}

// String is the kind's wire name.
func (k Kind) String() string { return k.row().Name }

// GRPC is the gRPC status code number the daemon answers with.
func (k Kind) GRPC() uint32 { return k.row().GRPC }

// HTTP is the HTTP status an HTTP adapter answers with.
func (k Kind) HTTP() int { return k.row().HTTP }

// Exit is the helper's exit code.
func (k Kind) Exit() int { return k.row().Exit }

// Help is the kind's line of help.
func (k Kind) Help() string { return k.row().Help }

// Parse reads a kind back from its wire name.
func Parse(name string) (Kind, bool) {
	for _, r := range rows() {
		if r.Name == name {
			return r.Kind, true
		}
	}
	return Internal, false
}

// FromGRPC is the kind of a status that came without a Trailer: the
// first row with that code, which is the kind an older daemon meant.
func FromGRPC(code uint32) Kind {
	switch code {
	case grpcUnknown, grpcInternal:
		return Internal
	case grpcUnavailable:
		return Unreachable // a daemon answered, so it is not NoDaemon
	case grpcPermissionDenied:
		return Refused
	case grpcFailedPrecondition:
		return StoreUnusable
	case grpcResourceExhausted:
		return Quota
	}
	for _, r := range rows() {
		if r.GRPC == code {
			return r.Kind
		}
	}
	return Internal
}

// kinded is implemented by errors that know their kind: *Error, and
// domain error types (store.UnavailableError, say) that declare theirs.
type kinded interface {
	ErrKind() Kind
}

// Error is an error with a kind. Its text is the wrapped error's alone:
// kinds never show up as prefixes in messages.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap keeps errors.Is and errors.As working through the kind.
func (e *Error) Unwrap() error { return e.Err }

// ErrKind is the error's kind.
func (e *Error) ErrKind() Kind { return e.Kind }

// New is an error of kind k with message msg, usable as a sentinel.
func New(k Kind, msg string) error { return &Error{Kind: k, Err: errors.New(msg)} }

// Wrap gives err the kind k (nil stays nil). The outermost kind wins, so
// a layer that understands a failure better can reclassify it.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Of is err's kind: the outermost kind in its chain; else Canceled or
// Timeout for the context's errors; else Internal.
func Of(err error) Kind {
	if err == nil {
		return Internal
	}
	var k kinded
	if errors.As(err, &k) {
		return k.ErrKind()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	}
	return Internal
}

// ExitStatus is the "Exit status" section of the helper's help, made
// from the table: one line per exit code, the first kind's help for it.
// The order of kinds in the table decides which line speaks for a code.
func ExitStatus() string {
	seen := map[int]string{ExitOK: "success"}
	for _, r := range rows() {
		if _, ok := seen[r.Exit]; !ok {
			seen[r.Exit] = r.Help
		}
	}
	codes := make([]int, 0, len(seen))
	for c := range seen {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	b.WriteString("Exit status:\n")
	for _, c := range codes {
		fmt.Fprintf(&b, "  %-3d %s\n", c, seen[c])
	}
	return strings.TrimSuffix(b.String(), "\n")
}
