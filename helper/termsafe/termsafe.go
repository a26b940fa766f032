// Package termsafe makes text that came from the workspace or the daemon
// (user names, profile names, error and state messages) safe to print to a
// terminal: such text could otherwise carry escape sequences that move the
// cursor, retitle the window or hide lines, or bidi overrides that make a
// name read as another (Trojan Source, CVE-2021-42574).
//
// It is for human-readable output only. Machine formats whose bytes a
// client parses (a bare token, shell exports, git's and curl's formats,
// JSON, which escapes controls itself) must not pass through it.
package termsafe

import (
	"strings"
	"unicode/utf8"
)

// Replacement stands for every character taken out, so that a name that
// had one still looks different from one that had none.
const Replacement = '?'

// Line returns s with every control character replaced, newlines and tabs
// included: for a value printed inside one line or one table cell.
func Line(s string) string { return clean(s, false) }

// Text is Line but keeps newlines and tabs, for a message whose layout
// (lines, tabwriter cells) is the output format's own.
func Text(s string) string { return clean(s, true) }

func clean(s string, keepLayout bool) string {
	if isClean(s, keepLayout) {
		return s // the common case costs one pass and no allocation
	}
	return strings.Map(func(r rune) rune {
		if unsafe(r, keepLayout) {
			return Replacement
		}
		return r
	}, s)
}

func isClean(s string, keepLayout bool) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			// ASCII controls and anything non-ASCII get the full check.
			for _, r := range s[i:] {
				if unsafe(r, keepLayout) {
					return false
				}
			}
			return true
		}
	}
	return true
}

// unsafe reports C0 and C1 controls, DEL, the bidi embeddings, overrides
// and isolates (U+202A–U+202E, U+2066–U+2069), the directional marks
// (U+200E, U+200F, U+061C), and bytes that are not UTF-8 (a lone 0x9b is
// CSI to a terminal that reads Latin-1).
func unsafe(r rune, keepLayout bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !keepLayout
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c:
		return true
	case r == utf8.RuneError:
		// strings.Map and range give RuneError for an invalid byte; a
		// real U+FFFD is harmless but indistinguishable here.
		return true
	}
	return false
}
