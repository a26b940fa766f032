package databrickscfg

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrNoSection is returned when an edit names a section the file lacks:
// edits change existing profiles, they never invent one.
var ErrNoSection = errors.New("no such section")

// Delete removes every entry of key in section (all its lines, in every
// block of a repeated section) and reports how many entries it removed.
// Other lines are untouched.
func (f *File) Delete(section, key string) int {
	var kept [][]byte
	n := 0
	for _, l := range f.lines {
		if (l.kind == Entry || l.kind == Continued) && l.section == section && l.key == key {
			if l.kind == Entry {
				n++
			}
			continue
		}
		kept = append(kept, l.raw)
	}
	if n > 0 {
		f.reparse(kept)
	}
	return n
}

// Set makes key = value in section. When the key is present, the entry the
// SDKs read (the last one) is rewritten in place: its indentation, key and
// delimiter, and any inline comment, are kept. Otherwise a line is inserted
// after the section's last entry (or its header), laid out like that entry.
// Nothing changes when the value is already right. The value must survive
// the SDKs' parser as given: no line breaks; it is written in backquotes
// when a plain value would read back differently (" #", quotes...).
func (f *File) Set(section, key, value string) error {
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("set %s in [%s]: the value has a line break, which .databrickscfg cannot hold", key, section)
	}
	if key == "" || key == "-" || strings.ContainsAny(key, "=:\r\n") || key != strings.TrimSpace(key) || strings.HasPrefix(key, "[") ||
		strings.HasPrefix(key, "#") || strings.HasPrefix(key, ";") || strings.HasPrefix(key, `"`) || strings.HasPrefix(key, "`") {
		return fmt.Errorf("set %q in [%s]: not a key .databrickscfg can hold", key, section)
	}
	if !f.HasSection(section) {
		return fmt.Errorf("set %s in [%s]: %w", key, section, ErrNoSection)
	}
	at := -1 // the entry to rewrite
	anchor := -1
	for i, l := range f.lines {
		if l.section != section {
			continue
		}
		switch {
		case l.kind == Entry && l.key == key:
			at = i
		case l.kind == Entry:
			anchor = l.last
		case l.kind == Header:
			anchor = i
		}
	}
	if at >= 0 && f.lines[at].value == value {
		return nil
	}
	for _, enc := range []string{value, "`" + value + "`"} {
		var lines [][]byte
		var want int // index of the line that must read key = value
		if at >= 0 {
			lines, want = f.rewrite(at, enc)
		} else {
			lines, want = f.insert(anchor, key, enc)
		}
		g := Parse(append(append([]byte(nil), f.bom...), bytes.Join(lines, nil)...))
		if l := g.lines[want]; l.kind == Entry && l.last == want && l.key == key && l.value == value && l.section == section {
			*f = *g
			return nil
		}
	}
	return fmt.Errorf("set %s in [%s]: the value cannot be written so that the SDKs read it back unchanged", key, section)
}

// rewrite returns the lines with entry at holding enc as its value.
func (f *File) rewrite(at int, enc string) ([][]byte, int) {
	l := f.lines[at]
	var nl []byte
	if l.valEnd > 0 && l.last == at {
		nl = concat(l.raw[:l.valStart], []byte(enc), l.raw[l.valEnd:])
	} else {
		// Empty or multi-line: one line replaces the whole entry.
		head := bytes.TrimRightFunc(l.raw[:l.delimEnd], unicode.IsSpace)
		nl = concat(head, []byte(" "+enc), eol(f.lines[l.last].raw))
	}
	var out [][]byte
	for i, m := range f.lines {
		switch {
		case i == at:
			out = append(out, nl)
		case i > at && i <= l.last:
		default:
			out = append(out, m.raw)
		}
	}
	return out, at
}

// insert returns the lines with "key = enc" after line anchor (-1: first).
// It copies the anchor entry's indentation and, when the anchor's keys are
// aligned, the column of its delimiter.
func (f *File) insert(anchor int, key, enc string) ([][]byte, int) {
	lineEnd := []byte("\n")
	layout := key + " = " + enc
	if anchor >= 0 {
		a := f.lines[anchor]
		if e := eol(a.raw); len(e) > 0 {
			lineEnd = e
		}
		// The entry whose layout to copy: the anchor, or the entry it ends.
		for i := anchor; i >= 0; i-- {
			if f.lines[i].kind == Entry {
				if f.lines[i].last == anchor {
					layout = layoutLike(f.lines[i], key, enc)
				}
				break
			}
			if f.lines[i].kind != Continued {
				break
			}
		}
	}
	var out [][]byte
	if anchor < 0 {
		out = append(out, concat([]byte(layout), lineEnd))
	}
	for i, m := range f.lines {
		out = append(out, m.raw)
		if i == anchor {
			if len(eol(m.raw)) == 0 {
				// The anchor is the file's last line and had no line
				// ending: it gets one, the new line goes without.
				out[len(out)-1] = concat(m.raw, lineEnd)
				out = append(out, []byte(layout))
			} else {
				out = append(out, concat([]byte(layout), lineEnd))
			}
		}
	}
	return out, anchor + 1
}

// layoutLike lays "key = enc" out as entry l is: same indentation, and the
// delimiter in the same column when l's key was padded to reach it.
func layoutLike(l line, key, enc string) string {
	raw := string(l.raw)
	indent := raw[:len(raw)-len(strings.TrimLeftFunc(raw, unicode.IsSpace))]
	delim := l.delimEnd - 1
	if delim < len(indent) || delim >= len(raw) {
		return indent + key + " = " + enc
	}
	d := raw[delim]
	after := raw[l.delimEnd:]
	gap := after[:len(after)-len(strings.TrimLeft(after, " \t"))]
	keyPart := raw[len(indent):delim]
	pad := 1
	switch spaces := len(keyPart) - len(strings.TrimRight(keyPart, " \t")); {
	case spaces == 0:
		pad = 0 // "key=value" or "key= value": nothing before the delimiter
	case spaces > 1 && delim-len(indent)-len(key) > 1:
		pad = delim - len(indent) - len(key) // aligned keys: the same column
	}
	if gap == "" && pad > 0 {
		gap = " "
	}
	return indent + key + strings.Repeat(" ", pad) + string(d) + gap + enc
}

// eol returns raw's line ending: "\r\n", "\n" or nothing.
func eol(raw []byte) []byte {
	switch {
	case bytes.HasSuffix(raw, []byte("\r\n")):
		return []byte("\r\n")
	case bytes.HasSuffix(raw, []byte("\n")):
		return []byte("\n")
	}
	return nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// reparse replaces the file with the given lines.
func (f *File) reparse(lines [][]byte) {
	*f = *Parse(append(append([]byte(nil), f.bom...), bytes.Join(lines, nil)...))
}
