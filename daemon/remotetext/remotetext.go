// Package remotetext bounds what a server's error answer may put into an
// error: a token endpoint's or a workspace API's body is the server's to
// choose (golang.org/x/oauth2 keeps up to 1 MiB of it in RetrieveError,
// the Token API's "message" is as long as the server likes), and an error
// reaches the daemon's log, gRPC status messages and every client's
// terminal. So what is kept is one line, at most MaxBytes of valid UTF-8,
// with control characters (escape sequences, newlines that would forge log
// lines) and bidi overrides replaced.
package remotetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxBytes is the most of a server's text kept: enough for any real
// OAuth error_description or API message.
const MaxBytes = 512

// Replacement stands for every character taken out.
const Replacement = '?'

// Clip returns s as one line of at most MaxBytes (plus a note of how much
// was cut), control characters and bidi overrides replaced, invalid UTF-8
// replaced, runs of white space collapsed.
func Clip(s string) string {
	if len(s) <= MaxBytes && clean(s) {
		return s // the common case: a short error code or message
	}
	cut := 0
	if len(s) > 4*MaxBytes {
		// Never scan a megabyte: only a prefix can be kept anyway.
		cut, s = len(s)-4*MaxBytes, s[:4*MaxBytes]
	}
	var b strings.Builder
	space := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				r = Replacement
			}
		}
		switch {
		case r == ' ' || r == '\n' || r == '\r' || r == '\t':
			if space || b.Len() == 0 {
				continue
			}
			space, r = true, ' '
		case unsafe(r):
			space, r = false, Replacement
		default:
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > MaxBytes {
			cut += len(s) - i
			break
		}
		b.WriteRune(r)
	}
	out := strings.TrimRight(b.String(), " ")
	if cut > 0 {
		out += "... (" + strconv.Itoa(cut) + " more bytes not shown)"
	}
	return out
}

func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || unsafe(r) {
			return false
		}
	}
	return true
}

// unsafe: C0 and C1 controls, DEL, bidi embeddings, overrides, isolates
// and marks (as helper/termsafe, which the daemon does not link).
func unsafe(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c:
		return true
	}
	return false
}

// Error returns err with its message clipped (Clip), still unwrapping to
// err, so errors.Is and errors.As see what they saw before. For an error
// that may quote a server's answer, such as oauth2.RetrieveError.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if c := Clip(msg); c != msg {
		return &clipped{msg: c, err: err}
	}
	return err
}

type clipped struct {
	msg string
	err error
}

func (c *clipped) Error() string { return c.msg }
func (c *clipped) Unwrap() error { return c.err }
