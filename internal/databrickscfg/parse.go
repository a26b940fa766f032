// Package databrickscfg reads and edits a .databrickscfg file line by line.
//
// It never re-renders the file from a model: Parse keeps every line's exact
// bytes, an edit replaces, removes or inserts only the lines of the entries
// it targets, and Bytes writes everything else back untouched. So comments,
// blank lines, key order, other profiles and [__settings__] survive an edit
// byte for byte, and Parse followed by Bytes returns any input unchanged.
//
// The reading rules are those of the parser the Databricks SDKs use
// (gopkg.in/ini.v1 as databricks-sdk-go loads it, SpaceBeforeInlineComment
// set): lines starting with # or ; are comments, " #" or " ;" starts an
// inline comment, keys and section names are case-sensitive, a repeated
// section merges into the first and the last value of a key wins, keys
// before any section header belong to [DEFAULT], a value ending in a
// backslash continues on the next line, and """...""" or `...` values may
// span lines. The package tests check this against gopkg.in/ini.v1 itself.
package databrickscfg

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// DefaultSection holds the keys above the first section header, and is the
// profile the SDKs use when none is named.
const DefaultSection = "DEFAULT"

// SettingsSection is reserved for tool settings (default_profile...); it is
// never a profile.
const SettingsSection = "__settings__"

// Kind is what a line is.
type Kind int

// Line kinds.
const (
	Blank     Kind = iota // empty or only white space
	Comment               // starts with # or ;
	Header                // [section]
	Entry                 // the first line of a key = value entry
	Continued             // a further line of a multi-line entry
	Invalid               // a line the SDK's parser rejects
)

// line is one line of the file: its exact bytes and what it means.
type line struct {
	raw     []byte // including its line ending, if any
	kind    Kind
	section string // the section the line is in; for a Header, its name
	key     string // Entry and Continued
	value   string // Entry: the value as the SDK reads it
	// For an Entry: the index of its last line, where the text after the
	// key's delimiter starts, and the value's span (quotes included) when
	// the entry is one line with a non-empty value; valEnd == 0 otherwise.
	last             int
	delimEnd         int
	valStart, valEnd int
}

// Problem is a line the SDK's parser refuses; with one, the SDKs cannot
// load the file at all. It never quotes the line, which may hold a secret.
type Problem struct {
	Line int // 1-based
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Msg) }

// File is a parsed .databrickscfg.
type File struct {
	bom      []byte
	lines    []line
	problems []Problem
}

// Parse reads data. It never fails: lines the SDK would reject are kept
// verbatim and reported by Problems, so Bytes still returns data exactly.
func Parse(data []byte) *File {
	data = bytes.Clone(data)
	n := bomLen(data)
	f := &File{bom: data[:n]}
	var raws [][]byte
	for rest := data[n:]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			raws = append(raws, rest)
			break
		}
		raws = append(raws, rest[:i+1])
		rest = rest[i+1:]
	}
	f.lines = make([]line, len(raws))
	section := DefaultSection
	autoKey := 1 // ini.v1 names a key "-" "#1", "#2"... per section
	bad := func(i int, msg string) {
		f.lines[i].kind = Invalid
		f.problems = append(f.problems, Problem{Line: i + 1, Msg: msg})
	}
	for i := 0; i < len(raws); i++ {
		raw := raws[i]
		f.lines[i] = line{raw: raw, section: section}
		trimmed := bytes.TrimLeftFunc(raw, unicode.IsSpace)
		lead := len(raw) - len(trimmed)
		switch {
		case len(trimmed) == 0:
			f.lines[i].kind = Blank
		case trimmed[0] == '#' || trimmed[0] == ';':
			f.lines[i].kind = Comment
		case trimmed[0] == '[':
			end := bytes.LastIndexByte(trimmed, ']')
			if end < 0 {
				bad(i, "a section header without a closing ]")
				continue
			}
			if end == 1 {
				bad(i, "an empty section name []")
				continue
			}
			section = string(trimmed[1:end])
			autoKey = 1
			f.lines[i].kind, f.lines[i].section = Header, section
		default:
			key, off, msg := readKeyName(string(trimmed))
			if msg == "" && key == "" {
				msg = "an empty key name"
			}
			if msg != "" {
				bad(i, msg)
				continue
			}
			if key == "-" {
				key = "#" + strconv.Itoa(autoKey)
				autoKey++
			}
			e := readValue(raws, i, lead+off)
			if e.msg != "" {
				bad(i, e.msg)
				// The SDK stops at the first problem; keep classifying
				// the remaining lines one by one so they stay editable.
				continue
			}
			f.lines[i].kind, f.lines[i].key, f.lines[i].value = Entry, key, e.value
			f.lines[i].last, f.lines[i].delimEnd = e.last, lead+off
			f.lines[i].valStart, f.lines[i].valEnd = e.valStart, e.valEnd
			for j := i + 1; j <= e.last; j++ {
				f.lines[j] = line{raw: raws[j], kind: Continued, section: section, key: key}
			}
			i = e.last
		}
	}
	return f
}

// bomLen mirrors ini.v1, which skips a UTF-16 or UTF-8 byte order mark.
func bomLen(b []byte) int {
	switch {
	case len(b) >= 2 && (b[0] == 0xFE && b[1] == 0xFF || b[0] == 0xFF && b[1] == 0xFE):
		return 2
	case len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF:
		return 3
	}
	return 0
}

// readKeyName is ini.v1's: the key ends at the first = or :, unless quoted
// with ", """ or `. It returns the key, the offset just past the delimiter,
// or a message saying why the line is no entry.
func readKeyName(s string) (string, int, string) {
	quote := ""
	switch {
	case len(s) > 6 && s[:3] == `"""`:
		quote = `"""`
	case s[0] == '"':
		quote = `"`
	case s[0] == '`':
		quote = "`"
	}
	if quote != "" {
		start := len(quote)
		pos := strings.Index(s[start:], quote)
		if pos < 0 {
			return "", 0, "a quoted key without its closing quote"
		}
		pos += start
		i := strings.IndexAny(s[pos+start:], "=:")
		if i < 0 {
			return "", 0, "no = after the key"
		}
		return strings.TrimSpace(s[start:pos]), pos + i + start + 1, ""
	}
	end := strings.IndexAny(s, "=:")
	switch {
	case end < 0:
		return "", 0, "neither a section, a comment nor key = value"
	case end == 0:
		return "", 0, "an empty key name"
	}
	return strings.TrimSpace(s[:end]), end + 1, ""
}

type entry struct {
	value            string
	last             int
	valStart, valEnd int
	msg              string
}

// readValue is ini.v1's readValue with the SDK's options, reading the value
// that starts at offset off of line i and following lines if it continues.
func readValue(raws [][]byte, i, off int) entry {
	raw := string(raws[i])
	s := strings.TrimLeftFunc(raw[off:], unicode.IsSpace)
	start := len(raw) - len(s)
	e := entry{last: i}
	if s == "" {
		return e
	}
	quote := ""
	switch {
	case len(s) > 3 && s[:3] == `"""`:
		quote = `"""`
	case s[0] == '`':
		quote = "`"
	}
	if quote != "" {
		q := len(quote)
		pos := strings.LastIndex(s[q:], quote)
		if pos >= 0 {
			e.value = s[q : pos+q]
			e.valStart, e.valEnd = start, start+pos+2*q
			return e
		}
		// A value over several lines, up to the line with the closing quote.
		val := s[q:]
		for j := i + 1; ; j++ {
			if j >= len(raws) {
				e.msg = "a " + quote + " value without its closing " + quote
				return e
			}
			next := string(raws[j])
			if pos := strings.LastIndex(next, quote); pos >= 0 {
				e.value, e.last = val+next[:pos], j
				return e
			}
			val += next
			if !strings.HasSuffix(next, "\n") {
				e.msg = "a " + quote + " value without its closing " + quote
				return e
			}
		}
	}
	s = strings.TrimSpace(s)
	if s[len(s)-1] == '\\' {
		// Continuation: the following lines, trimmed, until one that does
		// not end in a backslash or a blank one (which is consumed).
		val := s[:len(s)-1]
		j := i
		for {
			if j+1 >= len(raws) {
				break
			}
			j++
			next := strings.TrimSpace(string(raws[j]))
			if next == "" {
				break
			}
			val += next
			if val[len(val)-1] != '\\' {
				break
			}
			val = val[:len(val)-1]
		}
		e.value, e.last = val, j
		return e
	}
	c := strings.Index(s, " #")
	if c < 0 {
		c = strings.Index(s, " ;")
	}
	if c >= 0 {
		s = strings.TrimSpace(s[:c])
	}
	e.valStart, e.valEnd = start, start+len(s)
	if hasSurroundedQuote(s, '\'') || hasSurroundedQuote(s, '"') {
		s = s[1 : len(s)-1]
	}
	e.value = s
	if e.valStart == e.valEnd {
		e.valEnd = 0
	}
	return e
}

// hasSurroundedQuote is ini.v1's: s is quoted with q and holds no other q.
func hasSurroundedQuote(s string, q byte) bool {
	return len(s) >= 2 && s[0] == q && s[len(s)-1] == q && strings.IndexByte(s[1:], q) == len(s)-2
}

// Bytes returns the file's contents: the input of Parse with only the edits
// made since.
func (f *File) Bytes() []byte {
	n := len(f.bom)
	for _, l := range f.lines {
		n += len(l.raw)
	}
	out := make([]byte, 0, n)
	out = append(out, f.bom...)
	for _, l := range f.lines {
		out = append(out, l.raw...)
	}
	return out
}

// Problems lists the lines the SDKs' parser would reject.
func (f *File) Problems() []Problem { return append([]Problem(nil), f.problems...) }

// Sections lists the section names in the order they first appear, each
// once. DEFAULT is listed only when it has a header or keys.
func (f *File) Sections() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range f.lines {
		if (l.kind == Header || l.kind == Entry) && !seen[l.section] {
			seen[l.section] = true
			out = append(out, l.section)
		}
	}
	return out
}

// HasSection reports whether the section has a header or keys.
func (f *File) HasSection(section string) bool {
	for _, l := range f.lines {
		if (l.kind == Header || l.kind == Entry) && l.section == section {
			return true
		}
	}
	return false
}

// Get returns the value of key in section as the SDKs read it: the last one
// when the key is repeated.
func (f *File) Get(section, key string) (string, bool) {
	v, ok := "", false
	for _, l := range f.lines {
		if l.kind == Entry && l.section == section && l.key == key {
			v, ok = l.value, true
		}
	}
	return v, ok
}

// Values returns every key of section with the value the SDKs read.
func (f *File) Values(section string) map[string]string {
	out := map[string]string{}
	for _, l := range f.lines {
		if l.kind == Entry && l.section == section {
			out[l.key] = l.value
		}
	}
	return out
}

// Lines returns the 1-based numbers of every line of the entries of key in
// section, continuation lines included: what Delete removes.
func (f *File) Lines(section, key string) []int {
	var out []int
	for i, l := range f.lines {
		if (l.kind == Entry || l.kind == Continued) && l.section == section && l.key == key {
			out = append(out, i+1)
		}
	}
	return out
}
