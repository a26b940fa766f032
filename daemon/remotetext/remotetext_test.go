package remotetext

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile is what a server may put in an error body: a megabyte, with
// newlines that would forge log lines, terminal escapes, a bidi override,
// invalid UTF-8 and multi-byte characters at every offset.
func hostile() string {
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString("é€😀 \n\r\tlevel=INFO msg=\"forged\" \x1b[2J\x1b]0;title\x07 \u202e\xff\xfe\x9b ")
	}
	return b.String()
}

func checkBounded(t *testing.T, s string) {
	t.Helper()
	if len(s) > MaxBytes+64 {
		t.Errorf("%d bytes kept, want at most %d and a note", len(s), MaxBytes)
	}
	if !utf8.ValidString(s) {
		t.Error("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x202e {
			t.Fatalf("control or bidi character %U kept in %q", r, s)
		}
	}
}

func TestClipBoundsHostileText(t *testing.T) {
	in := hostile()
	out := Clip(in)
	checkBounded(t, out)
	if !strings.Contains(out, "more bytes not shown") || !strings.HasPrefix(out, "é€😀 level=INFO") {
		t.Errorf("Clip = %q", out)
	}
	// Every cut point lands on a rune boundary.
	for n := MaxBytes - 8; n < MaxBytes+8; n++ {
		checkBounded(t, Clip(strings.Repeat("😀", n)))
	}
}

func TestClipKeepsOrdinaryText(t *testing.T) {
	for _, s := range []string{"", "invalid_grant", "Refresh token is invalid or expired.", "Zugriff verweigert: café"} {
		if got := Clip(s); got != s {
			t.Errorf("Clip(%q) = %q", s, got)
		}
	}
	if got := Clip("a\n  b\tc  "); got != "a b c" {
		t.Errorf("Clip collapses white space to %q", got)
	}
}

type typed struct{ body string }

func (e *typed) Error() string { return "cannot fetch token: " + e.body }

func TestErrorClipsAndStillUnwraps(t *testing.T) {
	err := Error(&typed{hostile()})
	checkBounded(t, err.Error())
	var te *typed
	if !errors.As(err, &te) {
		t.Fatal("the clipped error no longer unwraps to the original")
	}
	short := errors.New("short")
	if Error(short) != short || Error(nil) != nil {
		t.Fatal("a short error or nil was changed")
	}
}
