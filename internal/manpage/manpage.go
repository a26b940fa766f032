// Package manpage renders a program's help text as a man(7) page, so
// "man dbx-cred" says what "dbx-cred --help" says, from the same text.
// The help is laid out for a terminal already, so each section is kept as
// it is (no fill), with only what roff would take as markup escaped.
package manpage

import (
	"fmt"
	"io"
	"strings"
)

// Section is one titled part of the page: NAME's summary is separate; a
// title is usually upper case ("DESCRIPTION", "COMMANDS").
type Section struct {
	Title string
	Body  string
	// Sub are sub-sections (a command each), after Body.
	Sub []Section
}

// Page is a man page of section 1.
type Page struct {
	Name, Summary, Version string
	Sections               []Section
}

// Write renders p.
func (p Page) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s 1 \"\" %q \"User Commands\"\n", strings.ToUpper(p.Name), p.Name+" "+p.Version)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", escape(p.Name), escape(p.Summary))
	for _, s := range p.Sections {
		fmt.Fprintf(&b, ".SH %s\n", escape(s.Title))
		verbatim(&b, s.Body)
		for _, sub := range s.Sub {
			fmt.Fprintf(&b, ".SS %s\n", escape(sub.Title))
			verbatim(&b, sub.Body)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// verbatim writes text with its layout kept.
func verbatim(b *strings.Builder, text string) {
	text = strings.Trim(text, "\n")
	if text == "" {
		return
	}
	b.WriteString(".nf\n")
	for _, line := range strings.Split(text, "\n") {
		b.WriteString(escape(line))
		b.WriteByte('\n')
	}
	b.WriteString(".fi\n")
}

// escape keeps roff from reading text as markup: a backslash is its escape
// character, and a line that starts with '.' or '\” would be a request.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
