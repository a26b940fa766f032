package databrickscfg

import (
	"bytes"
	"reflect"
	"testing"

	"gopkg.in/ini.v1"
)

// sdkRead parses data the way databricks-sdk-go v0.175.0 does
// (config.LoadFile), returning every section's keys, or ok=false when the
// SDK cannot load the file.
func sdkRead(data []byte) (map[string]map[string]string, bool) {
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, data)
	if err != nil {
		return nil, false
	}
	out := map[string]map[string]string{}
	for _, s := range f.Sections() {
		out[s.Name()] = s.KeysHash()
	}
	return out, true
}

// ourRead is the same view from this package.
func ourRead(f *File) map[string]map[string]string {
	out := map[string]map[string]string{DefaultSection: {}}
	for _, s := range f.Sections() {
		out[s] = f.Values(s)
	}
	return out
}

// checkAgainstSDK fails unless this package reads data exactly as the SDK
// does: the same files refused, the same sections, keys and values.
func checkAgainstSDK(t *testing.T, data []byte) {
	t.Helper()
	f := Parse(data)
	want, ok := sdkRead(data)
	if ok != (len(f.Problems()) == 0) {
		t.Fatalf("SDK loads it: %v; our problems: %v\ninput: %q", ok, f.Problems(), data)
	}
	if !ok {
		return
	}
	if got := ourRead(f); !reflect.DeepEqual(got, want) {
		t.Fatalf("read differs from the SDK's\n got: %q\nwant: %q\ninput: %q", got, want, data)
	}
}

func TestReadsLikeTheSDK(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		section  string
		want     map[string]string
	}{
		{"hash without space is part of the value", "[p]\ntoken = dapi#abc\n", "p", map[string]string{"token": "dapi#abc"}},
		{"space hash starts a comment", "[p]\ntoken = dapi #abc\n", "p", map[string]string{"token": "dapi"}},
		{"space semicolon starts a comment", "[p]\nhost = h ; note\n", "p", map[string]string{"host": "h"}},
		{"comment lines", "# c\n; c\n[p]\n  # indented\nhost=h\n", "p", map[string]string{"host": "h"}},
		{"keys are case-sensitive", "[p]\nToken = a\ntoken = b\n", "p", map[string]string{"Token": "a", "token": "b"}},
		{"sections are case-sensitive", "[P]\nhost = a\n[p]\nhost = b\n", "p", map[string]string{"host": "b"}},
		{"keys before a header are DEFAULT", "host = d\n[p]\nhost = p\n", DefaultSection, map[string]string{"host": "d"}},
		{"DEFAULT header merges", "host = d\n[DEFAULT]\ntoken = t\n", DefaultSection, map[string]string{"host": "d", "token": "t"}},
		{"repeated section merges, last wins", "[p]\nhost = a\ntoken = 1\n[q]\n[p]\ntoken = 2\n", "p", map[string]string{"host": "a", "token": "2"}},
		{"quotes are stripped", "[p]\ntoken = \"x y\"\nhost = 'h'\n", "p", map[string]string{"token": "x y", "host": "h"}},
		{"colon delimiter", "[p]\nhost: h\n", "p", map[string]string{"host": "h"}},
		{"CRLF", "[p]\r\nhost = h\r\n", "p", map[string]string{"host": "h"}},
		{"BOM", "\xef\xbb\xbf[p]\nhost = h\n", "p", map[string]string{"host": "h"}},
		{"continuation", "[p]\ntoken = ab\\\n  cd\nhost = h\n", "p", map[string]string{"token": "abcd", "host": "h"}},
		{"triple quotes over lines", "[p]\ntoken = \"\"\"a\nb\"\"\"\nhost = h\n", "p", map[string]string{"token": "a\nb", "host": "h"}},
		{"no final newline", "[p]\nhost = h", "p", map[string]string{"host": "h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Parse([]byte(tc.in))
			if p := f.Problems(); len(p) > 0 {
				t.Fatalf("problems: %v", p)
			}
			if got := f.Values(tc.section); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("[%s] = %q, want %q", tc.section, got, tc.want)
			}
			checkAgainstSDK(t, []byte(tc.in))
		})
	}
}

func TestProblemsAreWhatTheSDKRefuses(t *testing.T) {
	for _, in := range []string{"[p\n", "[]\n", "[p]\njust words\n", "[p]\n=v\n", "[p]\nk = \"\"\"open\n", "[p]\n\"k = v\n"} {
		f := Parse([]byte(in))
		if len(f.Problems()) == 0 {
			t.Errorf("%q: no problem reported", in)
		}
		checkAgainstSDK(t, []byte(in))
		if !bytes.Equal(f.Bytes(), []byte(in)) {
			t.Errorf("%q does not round-trip", in)
		}
	}
	// A problem names the line, never its text (it may be a token).
	p := Parse([]byte("[p]\ndapiSECRET\n")).Problems()
	if len(p) != 1 || p[0].Line != 2 || bytes.Contains([]byte(p[0].String()), []byte("SECRET")) {
		t.Fatalf("problems = %v", p)
	}
}

func TestSections(t *testing.T) {
	f := Parse([]byte("; c\n[__settings__]\ndefault_profile = a\n[a]\n[b]\nx=1\n[a]\n"))
	if got, want := f.Sections(), []string{SettingsSection, "a", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Sections = %q, want %q", got, want)
	}
	if f.HasSection(DefaultSection) {
		t.Fatal("DEFAULT without header or keys is not a section")
	}
}

// FuzzRoundTrip: Bytes after Parse returns any input byte for byte, and the
// read agrees with the SDK's own parser.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := Parse(data).Bytes(); !bytes.Equal(got, data) {
			t.Fatalf("round trip changed %q into %q", data, got)
		}
		checkAgainstSDK(t, data)
	})
}

// seeds are shared by the fuzz targets (and run in every go test).
var seeds = []string{
	"",
	"\n",
	"[DEFAULT]\nhost = https://a.cloud.databricks.com\ntoken = dapi123\n",
	"; top\n[__settings__]\ndefault_profile = prod\n\n[prod]\nhost  = https://h # inline\ntoken = dapi#x\n\n# c\n[dev]\nhost=h\n",
	"host = implicit\r\n[p]\r\ntoken = t\r\n",
	"\xef\xbb\xbf[p]\ntoken = t",
	"[p]\ntoken = a\\\nb\\\n\nhost = h\n",
	"[p]\ntoken = \"\"\"x\ny\"\"\"\n[q]\n",
	"[p]\ntoken = `a # b`\nk: v\n- = auto\n- = auto2\n",
	"[p]\nhost                = https://h\nauth_type           = pat\ntoken               = dapi\n",
	"[p\n",
	"  [p]  ; c\n\tkey\t=\tv\t\n",
}
