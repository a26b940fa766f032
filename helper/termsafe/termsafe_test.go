package termsafe

import "testing"

func TestLineAndText(t *testing.T) {
	tests := []struct{ in, line, text string }{
		{"alice@example.com", "alice@example.com", "alice@example.com"},
		{"Zoë Ångström 日本", "Zoë Ångström 日本", "Zoë Ångström 日本"},
		{"a\x1b[2Jb", "a?[2Jb", "a?[2Jb"},                                // ESC: clear screen
		{"a\x1b]0;pwned\x07b", "a?]0;pwned?b", "a?]0;pwned?b"},           // OSC title, BEL
		{"a\rb\x00c\x7fd\x08e", "a?b?c?d?e", "a?b?c?d?e"},                // CR, NUL, DEL, BS
		{"a\u009b31mb\u0085c", "a?31mb?c", "a?31mb?c"},                   // C1 CSI and NEL
		{"a\xffb\x9bc", "a?b?c", "a?b?c"},                                // not UTF-8
		{"line1\nline2\tcell", "line1?line2?cell", "line1\nline2\tcell"}, // layout
		{"admin\u202egpj.exe", "admin?gpj.exe", "admin?gpj.exe"},         // RLO
		{"\u202a\u202b\u202c\u202d", "????", "????"},
		{"\u2066x\u2067y\u2068z\u2069", "?x?y?z?", "?x?y?z?"},
		{"\u200ea\u200fb\u061cc", "?a?b?c", "?a?b?c"},
		{"\u200d\u2028ok", "\u200d\u2028ok", "\u200d\u2028ok"}, // not in the list: kept
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.line {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.line)
		}
		if got := Text(tt.in); got != tt.text {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.text)
		}
	}
}

func TestCleanStringIsNotCopied(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Line("alice@example.com, profile prod") }); n != 0 {
		t.Errorf("Line of clean text allocates %v times", n)
	}
}
